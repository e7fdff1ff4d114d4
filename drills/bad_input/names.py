"""Malformed customers and items in our tables: each refused with a reason a person can act on (or linked to
its QuickBooks twin), the good rows beside it still synced."""

from collections.abc import Callable

from drills.bad_input.harness import EXISTING, CaseFailed, D, Drill, check, needs
from qb_pipeline.db.models import (
    SyncState,
)
from qb_pipeline.db.session import session_scope
from qb_pipeline.sync.entities import NAME_LISTS
from qb_pipeline.sync.push import push_name_list


def bad_name_row(
    entity: str,
    fields: dict,
    *needles: str,
    pull: tuple = ("Customer", "Item"),
    income_account: str | None = "1",
    linked: bool = False,
) -> Callable:
    """fields[name] = EXISTING: the name of a record already in QuickBooks."""
    spec = NAME_LISTS[entity]
    model, name, key = spec.model, spec.name_column, spec.quickbooks.name_field
    extra = {} if entity == "Customer" else {"unit_price": D("3.00")}

    def run(d: Drill) -> str:
        d.fresh(pull=pull)
        row = dict(fields)
        if row.get(name) is EXISTING:
            row[name] = d.control("GET", f"dump/{entity}")["records"][1][key]
        with session_scope(d.engine) as s:
            good = model(
                **{name: f"Good New {entity}"},
                **extra,
                **({} if entity == "Customer" else {"income_account_qb_id": "1"}),
            )
            bad = model(**{**extra, **row})
            s.add_all([good, bad])
            s.flush()
            good_id, bad_id = good.id, bad.id
        try:
            result = push_name_list(d.gateway, d.engine, entity, default_income_account_id=income_account)
        except Exception as error:
            try:
                push_name_list(d.gateway, d.engine, entity, default_income_account_id=income_account)
                again = "; the next push went through"
            except Exception:
                again = "; the next push crashes the same way (the good row is never recorded)"
            raise CaseFailed(
                f"push_name_list crashed: {type(error).__name__}: {str(error).splitlines()[0]}{again}",
                str(error).splitlines()[0],
            ) from None
        records = d.control("GET", f"dump/{entity}")["records"]
        with session_scope(d.engine) as s:
            good, bad = s.get(model, good_id), s.get(model, bad_id)
            check(good.sync_state == SyncState.SYNCED and good.qb_id, f"the good {entity.lower()} was not pushed")
            check(
                sum(r[key] == f"Good New {entity}" for r in records) == 1,
                f"the good {entity.lower()} is not in QBO once",
            )
            if linked:
                same = [r for r in records if r[key].lower() == getattr(bad, name).lower()]
                check(
                    len(same) == 1 and bad.qb_id == same[0]["Id"] and result.linked == 1,
                    f"duplicate name not linked ({len(same)} in QBO, {result.linked} linked)",
                )
                return f"(linked to existing {entity.lower()} {same[0][key]!r}, Id {bad.qb_id})"
            check(bad.sync_state == SyncState.FAILED and bad.qb_id is None, f"bad row is {bad.sync_state.value}")
            needs(bad.last_error, needles)
            return bad.last_error

    return run


NAME_CASES = [
    (
        "customer",
        "display name of 501 characters",
        bad_name_row("Customer", {"display_name": "C" * 501}, "DisplayName", "500"),
    ),
    (
        "customer",
        "display name with a colon",
        bad_name_row("Customer", {"display_name": "Acme: East"}, "Acme: East", "':'"),
    ),
    ("customer", "display name with a tab", bad_name_row("Customer", {"display_name": "Acme\tEast"}, "cannot contain")),
    ("customer", "blank display name", bad_name_row("Customer", {"display_name": "   "}, "DisplayName", "missing")),
    (
        "customer",
        "name already in QBO, not yet mirrored",
        bad_name_row("Customer", {"display_name": EXISTING}, pull=("Item",), linked=True),
    ),
    (
        "customer",
        "name already in QBO and in the mirror",
        bad_name_row("Customer", {"display_name": EXISTING}, "already linked", "merge"),
    ),
    (
        "customer",
        "two new rows with the same name",
        bad_name_row("Customer", {"display_name": "Good New Customer"}, "already linked", "merge"),
    ),
    ("item", "name of 101 characters", bad_name_row("Item", {"name": "I" * 101}, "Name", "100")),
    ("item", "name with a colon", bad_name_row("Item", {"name": "Bolts: M6"}, "Bolts: M6", "':'")),
    ("item", "blank name", bad_name_row("Item", {"name": " "}, "Name", "missing")),
    (
        "item",
        "no income account",
        bad_name_row("Item", {"name": "No Account"}, "No Account", "IncomeAccountRef", income_account=None),
    ),
    (
        "item",
        "income account that does not exist",
        bad_name_row("Item", {"name": "Bad Account", "income_account_qb_id": "999"}, "IncomeAccountRef", "999"),
    ),
    (
        "item",
        "unknown item type",
        bad_name_row("Item", {"name": "Bundle Thing", "item_type": "Bundle"}, "Type", "Bundle"),
    ),
    (
        "item",
        "name already in QBO, not yet mirrored",
        bad_name_row("Item", {"name": EXISTING}, pull=("Customer",), linked=True),
    ),
]


# -- pricing CSV -----------------------------------------------------------------------------------
