"""The receivables report tables, refreshed from the mirror alone (no QuickBooks call): the inputs read
with SQL, computed by `sync/receivables_reports.py`, written to `ar_aging` and `sales_by_customer_month`
(each company's rows replaced in one transaction).

Credits come from the credit memo and payment mirrors when the database has them (`qb_credit_memos`:
a memo's credit not yet applied; `qb_payments`: a payment's unapplied amount): until then the reports
count invoices only.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import pandas as pd
import sqlalchemy as sa

from qb_pipeline.core.company_zone import company_zone
from qb_pipeline.db.models import Customer, QBInvoice
from qb_pipeline.db.report_tables import ArAging, SalesByCustomerMonth, replace_report
from qb_pipeline.db.session import session_scope
from qb_pipeline.sync.receivables_reports import INVOICES, ITEMS, ar_aging, sales_by_customer_month

GONE = ("voided", "deleted")
# Column names a mirror table may use for the same thing (the first present is read).
CREDIT_LEFT = ("remaining_credit", "balance")
UNAPPLIED = ("unapplied_amt", "unapplied_amount", "unapplied")


def company_today(configured_zone: str, now: datetime) -> date:
    """The company's calendar date at `now` (QB_COMPANY_TIMEZONE, else America/Los_Angeles)."""
    return now.astimezone(company_zone(configured_zone, None).zone).date()


def refresh_ar_aging(engine: sa.Engine, as_of: date, now: datetime, company: str | None = None) -> pd.DataFrame:
    """`ar_aging` recomputed as of `as_of` for `company` (a run's partition), or for every company
    in the mirror when None; the rows written, with realm_id and customer_name, by company and customer name."""
    frames = []
    with session_scope(engine) as session:
        connection = session.connection()
        for realm_id in _realms(connection, company):
            table = ar_aging(_open_invoices(connection, realm_id), _credits(connection, realm_id), as_of)
            table = _named(connection, realm_id, table).assign(as_of=as_of, computed_at=now)
            replace_report(session, ArAging, realm_id, table.to_dict("records"))
            frames.append(table)
    return _stacked(frames, ArAging)


def refresh_sales_by_customer_month(
    engine: sa.Engine, start: date, end: date, now: datetime, company: str | None = None
) -> pd.DataFrame:
    """`sales_by_customer_month` recomputed for `start`..`end` for `company`, or for every company
    in the mirror when None."""
    frames = []
    with session_scope(engine) as session:
        connection = session.connection()
        for realm_id in _realms(connection, company):
            invoices, memos = _invoice_sales(connection, realm_id, start, end), _memo_sales(connection, realm_id)
            table = sales_by_customer_month(invoices, memos, start, end)
            table = _named(connection, realm_id, table).assign(computed_at=now)
            replace_report(session, SalesByCustomerMonth, realm_id, table.to_dict("records"))
            frames.append(table)
    return _stacked(frames, SalesByCustomerMonth)


def months_back(today: date, months: int) -> date:
    """The first day of the month `months` - 1 months before `today`'s (12: the last twelve months)."""
    first = today.replace(day=1)
    for _ in range(months - 1):
        first = (first - timedelta(days=1)).replace(day=1)
    return first


# -- reads ---------------------------------------------------------------------------------------
def _realms(connection: sa.Connection, only: str | None) -> list[str]:
    """The companies to refresh: `only` (its report is emptied when it has no invoice yet), else every
    company with invoices in the mirror. One company's run never rewrites another's rows."""
    if only is not None:
        return [only]
    return sorted(connection.scalars(sa.select(QBInvoice.realm_id).distinct()))


def _open_invoices(connection: sa.Connection, realm_id: str) -> pd.DataFrame:
    rows = connection.execute(
        sa.select(QBInvoice.customer_qb_id, QBInvoice.txn_date, QBInvoice.due_date, QBInvoice.balance).where(
            QBInvoice.realm_id == realm_id, QBInvoice.status.not_in(GONE), QBInvoice.balance != 0
        )
    )
    return pd.DataFrame(rows.all(), columns=INVOICES)


def _credits(connection: sa.Connection, realm_id: str) -> pd.DataFrame:
    """Credit memos' credit left and payments' unapplied amounts, from the mirrors the database has."""
    frames = [pd.DataFrame(columns=ITEMS)]
    for table_name, amount_columns in (("qb_credit_memos", CREDIT_LEFT), ("qb_payments", UNAPPLIED)):
        table = _mirror_table(connection, table_name)
        amount = _first_column(table, amount_columns)
        if table is None or amount is None:
            continue
        rows = connection.execute(
            sa.select(table.c.customer_qb_id, table.c.txn_date, amount).where(
                table.c.realm_id == realm_id, *_live(table), amount != 0
            )
        )
        frames.append(pd.DataFrame(rows.all(), columns=ITEMS))
    return pd.concat(frames, ignore_index=True)


def _invoice_sales(connection: sa.Connection, realm_id: str, start: date, end: date) -> pd.DataFrame:
    rows = connection.execute(
        sa.select(QBInvoice.customer_qb_id, QBInvoice.txn_date, QBInvoice.lines).where(
            QBInvoice.realm_id == realm_id,
            QBInvoice.status != "deleted",
            QBInvoice.txn_date.between(start.isoformat(), end.isoformat()),
        )
    )
    return pd.DataFrame([(customer, day, _lines_total(lines)) for customer, day, lines in rows], columns=ITEMS)


def _memo_sales(connection: sa.Connection, realm_id: str) -> pd.DataFrame:
    """Each credit memo's item lines (its `lines` when mirrored, else its total: the company's sales
    carry no tax here), when the credit memo mirror exists."""
    table = _mirror_table(connection, "qb_credit_memos")
    if table is None:
        return pd.DataFrame(columns=ITEMS)
    amount = table.c.lines if "lines" in table.c else table.c.total_amt
    rows = connection.execute(
        sa.select(table.c.customer_qb_id, table.c.txn_date, amount).where(
            table.c.realm_id == realm_id, *([table.c.status != "deleted"] if "status" in table.c else [])
        )
    )
    convert = _lines_total if "lines" in table.c else (lambda total: total)
    return pd.DataFrame([(customer, day, convert(value)) for customer, day, value in rows], columns=ITEMS)


def _lines_total(lines: list | None) -> str:
    """The sum of a mirrored transaction's item lines (their amounts kept as text), as text."""
    return str(sum((Decimal(str(line.get("amount") or 0)) for line in lines or []), Decimal("0")))


def _mirror_table(connection: sa.Connection, name: str) -> sa.Table | None:
    """A mirror table another part of the project owns, reflected when the database has it."""
    if not sa.inspect(connection).has_table(name):
        return None
    return sa.Table(name, sa.MetaData(), autoload_with=connection)


def _first_column(table: sa.Table | None, names: tuple[str, ...]) -> sa.Column | None:
    if table is None:
        return None
    return next((table.c[name] for name in names if name in table.c), None)


def _live(table: sa.Table) -> list:
    return [table.c.status.not_in(GONE)] if "status" in table.c else []


def _named(connection: sa.Connection, realm_id: str, table: pd.DataFrame) -> pd.DataFrame:
    """The report with realm_id and each customer's display name (its QuickBooks id when not mirrored),
    by name as QuickBooks lists them."""
    ids = sorted(set(table["customer_qb_id"]))
    names = (
        dict(
            connection.execute(
                sa.select(Customer.qb_id, Customer.display_name).where(
                    Customer.realm_id == realm_id, Customer.qb_id.in_(ids)
                )
            ).all()
        )
        if ids
        else {}
    )
    table = table.assign(realm_id=realm_id, customer_name=[names.get(c, c) for c in table["customer_qb_id"]])
    order = [str(name).lower() for name in table["customer_name"]]
    return table.assign(_order=order).sort_values(["_order", "customer_qb_id"], kind="stable").drop(columns="_order")


def _stacked(frames: list[pd.DataFrame], table: type) -> pd.DataFrame:
    columns = [column.name for column in table.__table__.columns]
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)
