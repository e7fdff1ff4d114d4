"""At most one invoice per order, each safeguard proven alone.

Every `test_safeguard_<name>_…` hands the push every other safeguard's absence (without_safeguards.py),
switches off the sandbox's QuickBooks rules that would hide a duplicate (DocNumber refusal, requestid
replay where it is not the safeguard's own lever), produces the failure its safeguard guards against,
and counts invoices per order from the sandbox's dump by the PrivateNote marker — never through our
lookups. `make mutation-check` runs each of them with its own safeguard absent too (QB_MUTATE) and
requires it to fail.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

import pytest
import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.operations import Operations

from qb_pipeline.core.errors import QuickBooksSetupError
from qb_pipeline.db import queries
from qb_pipeline.db.models import Order, OrderStatus
from qb_pipeline.db.session import session_scope
from qb_pipeline.db.token_cipher import new_key
from qb_pipeline.db.types import utcnow
from qb_pipeline.sandbox.server import DEFAULT_REALM as REALM
from qb_pipeline.sync.invoice_draft import draft_invoice
from qb_pipeline.sync.invoices import Safeguards, push_orders
from qb_pipeline_tests.fixtures.orders import (
    add_one_line_order,
    add_orders,
    build_shop,
    push_killed_mid_batch,
)
from qb_pipeline_tests.helpers import wait_for
from qb_pipeline_tests.sync.without_safeguards import safeguards_only

MUTATED = os.environ.get("QB_MUTATE", "")  # the mutation check switches this safeguard off as well


def alone(name: str) -> Safeguards:
    """Only `name` on; with QB_MUTATE=name nothing is, and the test must then fail."""
    return safeguards_only(*([] if name == MUTATED else [name]))


def invoices_per_order(sandbox) -> Counter:
    """From the sandbox's own records: how many invoices name each order in their PrivateNote."""
    counts: Counter = Counter()
    for record in sandbox.dump("Invoice")["records"]:
        first_line = str(record.get("PrivateNote", "")).split("\n")[0]
        assert first_line.startswith("qb_pipeline order "), f"an invoice without its order: {record['Id']}"
        counts[first_line.removeprefix("qb_pipeline order ")] += 1
    return counts


def order_numbers(engine, status: OrderStatus | None = None) -> set[str]:
    with session_scope(engine) as session:
        query = sa.select(Order.order_number)
        return set(session.scalars(query.where(Order.status == status) if status else query))


def assert_one_invoice_each(sandbox, engine) -> None:
    counts = invoices_per_order(sandbox)
    assert {n: c for n, c in counts.items() if c > 1} == {}, "duplicate invoices"
    assert set(counts) == order_numbers(engine, OrderStatus.SYNCED) == order_numbers(engine), "orders not invoiced"


def loose_company(sandbox, *, replay: bool = False) -> None:
    """A company where QuickBooks itself would let a duplicate through."""
    sandbox.settings(docnumber_duplicates="allow", requestid_replay=replay)


def test_safeguard_write_ahead_resends_a_lost_answer_with_its_first_requestid(sandbox, make_gateway, engine):
    loose_company(sandbox, replay=True)  # the QuickBooks behaviour this safeguard relies on
    gateway = make_gateway(timeout_seconds=1.0)
    build_shop(sandbox, gateway, engine)
    add_orders(engine, 30)
    sandbox.inject("timeout", count=1, seconds=2, path_contains="/batch")  # applied; the answer comes too late
    push_orders(gateway, engine, "run-1", safeguards=alone("write_ahead"), resend_wait=0.1)
    assert_one_invoice_each(sandbox, engine)


def test_safeguard_write_ahead_resends_a_killed_runs_batch_with_its_first_requestid(
    sandbox, make_gateway, engine, database_url
):
    loose_company(sandbox, replay=True)
    key = new_key()
    gateway = make_gateway(key=key)
    build_shop(sandbox, gateway, engine)
    add_orders(engine, 45)
    push_killed_mid_batch(sandbox, database_url, key, [n for n in ["write_ahead"] if n != MUTATED])
    push_orders(gateway, engine, "recovery-run", stale_after=timedelta(seconds=0), safeguards=alone("write_ahead"))
    assert_one_invoice_each(sandbox, engine)


def test_safeguard_lookup_finds_the_invoice_before_resending(sandbox, make_gateway, engine):
    loose_company(sandbox)
    gateway = make_gateway(timeout_seconds=1.0)
    build_shop(sandbox, gateway, engine)
    add_orders(engine, 30)
    sandbox.inject("timeout", count=1, seconds=2, path_contains="/batch")
    result = push_orders(gateway, engine, "run-1", safeguards=alone("lookup"), resend_wait=0.1)
    assert_one_invoice_each(sandbox, engine)
    assert result.linked == 30


@pytest.mark.parametrize(
    "others",
    [(), ("write_ahead", "lookup", "strict_link", "heartbeat")],
    ids=["alone", "with_every_other_safeguard"],
)
def test_safeguard_numbering_check_pushes_nothing_until_custom_numbers_are_on(sandbox, make_gateway, engine, others):
    loose_company(sandbox)
    gateway = make_gateway(timeout_seconds=1.0)
    build_shop(sandbox, gateway, engine)
    add_orders(engine, 30)
    sandbox.settings(custom_txn_numbers=False)  # QuickBooks numbers invoices itself: ours cannot find them
    sandbox.inject("timeout", count=1, seconds=2, path_contains="/batch")  # applied; the answer comes too late
    # Without the check, this push sends: the lookup (when on) asks for numbers QuickBooks did not keep and
    # finds nothing, and the batch goes again — a second invoice per order, counted below by marker.
    checked = safeguards_only(*others, *([] if MUTATED == "numbering_check" else ["numbering_check"]))
    refused = None
    try:
        push_orders(gateway, engine, "run-1", resend_wait=0.1, safeguards=checked)
    except QuickBooksSetupError as error:
        refused = str(error)
    counts = invoices_per_order(sandbox)
    assert {n: c for n, c in counts.items() if c > 1} == {}, "duplicate invoices"
    assert counts == Counter(), "invoices sent to a company that does not keep our numbers"
    assert order_numbers(engine, OrderStatus.PENDING) == order_numbers(engine)  # nothing lost
    with session_scope(engine) as session:  # nothing claimed: a claim counts an attempt
        assert set(session.scalars(sa.select(Order.attempts))) == {0}
    assert refused is not None and "Custom transaction numbers" in refused
    sandbox.control("DELETE", "inject")
    sandbox.settings(custom_txn_numbers=True)  # a person turns the setting on: the push resumes
    push_orders(make_gateway(), engine, "run-2", safeguards=alone("numbering_check"))
    assert_one_invoice_each(sandbox, engine)


def late_batch(sandbox, seconds: float) -> Callable[[], None]:
    """The next batch reaches QuickBooks `seconds` late (a slow network); the returned call waits until a
    batch sent by now has surely landed, so invoices are counted after QuickBooks created them all."""
    sandbox.inject("late", count=1, seconds=seconds, path_contains="/batch")
    return lambda: time.sleep(seconds + 0.5)


def lookup_after(name: str) -> Safeguards:
    """The lookup, which decides an unknown outcome, and `name`, which says when it may: nothing else on
    (with QB_MUTATE=name, the lookup alone)."""
    return safeguards_only("lookup", *([] if name == MUTATED else [name]))


def test_safeguard_settle_looks_a_late_batch_up_only_once_quickbooks_is_done_with_it(sandbox, make_gateway, engine):
    loose_company(sandbox)  # duplicate numbers allowed, requestids not replayed
    gateway = make_gateway(timeout_seconds=1.0, request_limit_seconds=4.0)
    build_shop(sandbox, gateway, engine)
    add_orders(engine, 30)
    # The batch reaches QuickBooks 3 s late (a slow network): we stop waiting after 1 s, and QuickBooks
    # creates the invoices 2 s after that. A lookup in between finds nothing.
    landed = late_batch(sandbox, 3)
    result = push_orders(gateway, engine, "run-1", safeguards=lookup_after("settle"), resend_wait=0.1)
    landed()
    assert_one_invoice_each(sandbox, engine)
    assert result.linked == 30


def test_safeguard_settle_sends_orders_back_to_wait_when_quickbooks_may_take_long(sandbox, make_gateway, engine):
    loose_company(sandbox)
    gateway = make_gateway(timeout_seconds=1.0, request_limit_seconds=4.0)
    build_shop(sandbox, gateway, engine)
    add_orders(engine, 30)
    landed = late_batch(sandbox, 3)
    # settle_in_run=0: a run never waits for QuickBooks itself, as with QuickBooks' real 125 s
    push_orders(gateway, engine, "run-1", safeguards=lookup_after("settle"), resend_wait=0.1, settle_in_run=0)
    with session_scope(engine) as session:
        waiting = session.scalars(sa.select(Order)).all()
        assert {o.status for o in waiting} == {OrderStatus.FAILED}
        assert all("QB_REQUEST_LIMIT_SECONDS" in o.status_reason and o.next_attempt_at for o in waiting)
        due = max(o.next_attempt_at for o in waiting)
    push_orders(make_gateway(), engine, "too-early", safeguards=lookup_after("settle"), settle_in_run=0)
    assert order_numbers(engine, OrderStatus.FAILED) == order_numbers(engine)  # not due: nothing claimed
    time.sleep(max(0.0, (due - utcnow()).total_seconds()) + 0.1)
    result = push_orders(make_gateway(), engine, "run-2", safeguards=lookup_after("settle"), settle_in_run=0)
    landed()
    assert_one_invoice_each(sandbox, engine)
    assert result.linked == 30


def numbering_rechecked() -> Safeguards:
    return safeguards_only(*([] if MUTATED == "numbering_check" else ["numbering_check"]))


def assert_left_for_a_person(engine, sandbox, numbers: set[str]) -> None:
    """Each of `numbers` has exactly one invoice (QuickBooks numbered it) and waits for a person, told how to
    find it; of the other orders, only the synced ones were invoiced."""
    counts = invoices_per_order(sandbox)
    assert {n: c for n, c in counts.items() if c > 1} == {}, "duplicate invoices"
    assert set(counts) == numbers | order_numbers(engine, OrderStatus.SYNCED)
    with session_scope(engine) as session:
        for order in session.scalars(sa.select(Order).where(Order.order_number.in_(numbers))):
            assert (order.status, order.next_attempt_at, order.qb_invoice_id) == (OrderStatus.FAILED, None, None)
            assert f"private note starts 'qb_pipeline order {order.order_number}'" in order.status_reason


def test_safeguard_numbering_check_reads_the_preferences_again_before_a_resend(sandbox, make_gateway, engine):
    loose_company(sandbox)
    gateway = make_gateway(timeout_seconds=1.0)
    build_shop(sandbox, gateway, engine)
    add_orders(engine, 40)
    landed = late_batch(sandbox, 2)

    def turn_numbering_off(message: str) -> None:  # after the push read the preferences, before it sends
        if message.startswith("claimed"):
            sandbox.settings(custom_txn_numbers=False)

    refused = None
    try:
        push_orders(
            gateway, engine, "run-1", safeguards=numbering_rechecked(), resend_wait=0.1, progress=turn_numbering_off
        )
    except QuickBooksSetupError as error:
        refused = str(error)
    landed()
    first_batch = {f"SO-{n:05d}" for n in range(30)}
    assert_left_for_a_person(engine, sandbox, first_batch)
    assert order_numbers(engine, OrderStatus.PENDING) == order_numbers(engine) - first_batch  # nothing lost
    assert refused is not None and "Custom transaction numbers" in refused


def test_safeguard_numbering_check_holds_a_killed_runs_batch_sent_while_numbering_was_off(
    sandbox, make_gateway, engine, database_url
):
    loose_company(sandbox)
    key = new_key()
    gateway = make_gateway(key=key)
    build_shop(sandbox, gateway, engine)
    add_orders(engine, 60)
    push_killed_mid_batch(
        sandbox,
        database_url,
        key,
        [n for n in ["numbering_check"] if n != MUTATED],
        while_on_its_way=lambda: sandbox.settings(custom_txn_numbers=False),
    )
    sandbox.settings(custom_txn_numbers=True)  # a person turns numbering back on; the claims go stale
    push_orders(gateway, engine, "recovery-run", stale_after=timedelta(seconds=0), safeguards=numbering_rechecked())
    first_batch = {f"SO-{n:05d}" for n in range(30)}
    assert_left_for_a_person(engine, sandbox, first_batch)
    assert order_numbers(engine, OrderStatus.SYNCED) == order_numbers(engine) - first_batch


def test_safeguard_strict_link_refuses_an_invoice_that_is_not_the_orders(sandbox, make_gateway, engine):
    gateway = make_gateway()
    build_shop(sandbox, gateway, engine)
    (order_id,) = add_orders(engine, 1, prefix="H")
    with session_scope(engine) as session:
        body = draft_invoice(session, session.get(Order, order_id)).payload()
    # A person typed invoice H-00000 for the same customer by hand: one line, another amount, no marker.
    body = {**body, "Line": body["Line"][:1], "PrivateNote": "typed by hand"}
    typed = gateway.create("Invoice", body, request_id="typed-by-hand")
    push_orders(gateway, engine, "run-1", safeguards=alone("strict_link"))  # QuickBooks answers 6140
    with session_scope(engine) as session:
        order = session.get(Order, order_id)
        assert (order.status, order.qb_invoice_id) == (OrderStatus.FAILED, None)
        assert f"Id {typed['Id']}" in order.status_reason and "H-00000" in order.status_reason
        assert "total" in order.status_reason and "lines" in order.status_reason
    assert len(sandbox.dump("Invoice")["records"]) == 1


def test_safeguard_heartbeat_keeps_a_slow_live_run_from_being_taken_over(sandbox, make_gateway, engine):
    loose_company(sandbox)
    build_shop(sandbox, make_gateway(), engine)
    # Ten batches, each slower than nothing, none near the stale period: the slow run still has batches to
    # send when the second run starts, even on a loaded machine.
    add_orders(engine, 300)
    sandbox.settings(latency_ms=400)
    stale = timedelta(seconds=1.5)
    errors: list[BaseException] = []

    def slow_run() -> None:
        try:
            push_orders(make_gateway(), engine, "slow-run", stale_after=stale, safeguards=alone("heartbeat"))
        except BaseException as error:  # reported below
            errors.append(error)

    slow = threading.Thread(target=slow_run)
    slow.start()
    wait_for(lambda: order_numbers(engine, OrderStatus.SYNCED), timeout=60, what="the first batch", interval=0.05)
    # Its claims, made before its first batch, past the stale period: timed from the claims, not from the
    # thread's start (a second run that found none stale yet pushed nothing, and the proof passed without
    # the heartbeat once the push stopped reading QuickBooks' preferences before looking for due orders).
    time.sleep(stale.total_seconds() + 0.3)
    push_orders(make_gateway(), engine, "second-run", stale_after=stale, safeguards=alone("heartbeat"))
    slow.join(120)
    assert not errors
    assert_one_invoice_each(sandbox, engine)


# -- the order-level rules (not switches: always on) ------------------------------------------------


def test_an_order_number_with_spaces_is_refused_not_matched_to_another_orders_invoice(sandbox, make_gateway, engine):
    gateway = make_gateway()
    build_shop(sandbox, gateway, engine)
    add_one_line_order(engine, "W-1", "1")
    add_one_line_order(engine, "W-1 ", "500")
    push_orders(gateway, engine, "run-1")
    with session_scope(engine) as session:
        spaced = session.scalars(sa.select(Order).where(Order.order_number == "W-1 ")).one()
        assert spaced.status == OrderStatus.FAILED and spaced.qb_invoice_id is None
        assert "starts or ends with a space" in spaced.status_reason
    assert invoices_per_order(sandbox) == Counter({"W-1": 1})


def test_one_invoice_is_never_linked_to_two_orders(engine):
    with session_scope(engine) as session:
        session.add_all(
            [Order(order_number="A", qb_invoice_id="77", realm_id=REALM), Order(order_number="B", realm_id=REALM)]
        )
    with pytest.raises(sa.exc.IntegrityError):
        with session_scope(engine) as session:
            session.execute(sa.update(Order).where(Order.order_number == "B").values(qb_invoice_id="77"))


def test_a_poison_order_fails_alone_and_the_run_goes_on(sandbox, make_gateway, engine):
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL's NUMERIC(18, 6) refuses a quantity of 1e26 when the order is written")
    gateway = make_gateway()
    build_shop(sandbox, gateway, engine)
    add_orders(engine, 5)
    add_one_line_order(engine, "HUGE", "1e26")
    result = push_orders(gateway, engine, "run-1")
    assert result.pushed == 5
    with session_scope(engine) as session:
        huge = session.scalars(sa.select(Order).where(Order.order_number == "HUGE")).one()
        assert huge.status == OrderStatus.FAILED and "too large" in huge.status_reason
    assert set(invoices_per_order(sandbox)) == order_numbers(engine) - {"HUGE"}


def test_every_invoice_names_its_order_and_keeps_the_memo(sandbox, make_gateway, engine):
    gateway = make_gateway()
    build_shop(sandbox, gateway, engine)
    (order_id,) = add_orders(engine, 1)
    with session_scope(engine) as session:
        session.get(Order, order_id).memo = "leave at the back door"
    push_orders(gateway, engine, "run-1")
    (invoice,) = sandbox.dump("Invoice")["records"]
    assert invoice["PrivateNote"] == "qb_pipeline order SO-00000\nleave at the back door"


def test_a_claim_is_not_taken_over_while_its_heartbeat_is_fresh(engine):
    with session_scope(engine) as session:
        session.add(Order(order_number="HB-1", realm_id=REALM))
    long_ago = utcnow() - timedelta(hours=1)
    with session_scope(engine) as session:
        assert queries.claim_orders(session, "live-run", realm_id=REALM, now=long_ago)
        assert queries.renew_claims(session, "live-run")  # the run's heartbeat, just now
        stale = timedelta(minutes=15)
        assert queries.take_over_stale_claims(session, "other-run", realm_id=REALM, older_than=stale) == []


# -- strict_link: the holder check and the marker rule, each producing its own failure ----------------


def drop_the_one_invoice_one_order_constraint(engine) -> None:
    """The database's backstop (orders.qb_invoice_id unique) switched off for this test's database only,
    so the holder check in `finish_synced` is the one protection left between two orders and one invoice."""
    with engine.begin() as connection:
        with Operations(MigrationContext.configure(connection)).batch_alter_table("orders") as batch:
            batch.drop_constraint("uq_orders_realm_qb_invoice_id", type_="unique")


def holders(engine, invoice_id: str) -> set[str]:
    """From the database: the orders linked to QuickBooks invoice `invoice_id`."""
    with session_scope(engine) as session:
        return set(session.scalars(sa.select(Order.order_number).where(Order.qb_invoice_id == invoice_id)))


def test_safeguard_strict_link_never_links_the_invoice_another_order_holds(sandbox, make_gateway, engine):
    drop_the_one_invoice_one_order_constraint(engine)
    loose_company(sandbox)
    gateway = make_gateway()
    build_shop(sandbox, gateway, engine)
    add_orders(engine, 1, prefix="A")
    push_orders(gateway, engine, "run-1")
    (first,) = sandbox.dump("Invoice")["records"]
    assert holders(engine, first["Id"]) == {"A-00000"}

    # The database now meets a company that numbers its records afresh (the sandbox reset here; a new
    # QuickBooks company behaves alike): QuickBooks answers order B-00000's create with Id `first["Id"]`,
    # which order A-00000 holds.
    sandbox.reset()
    loose_company(sandbox)
    sandbox.seed(customers=20, items=10)  # the same customers and items, under the same ids
    add_orders(engine, 3, prefix="B")
    push_orders(gateway, engine, "run-2", safeguards=alone("strict_link"))
    created = {r["PrivateNote"].split("\n")[0]: r["Id"] for r in sandbox.dump("Invoice")["records"]}
    assert created["qb_pipeline order B-00000"] == first["Id"], "the collision this test needs did not happen"

    assert holders(engine, first["Id"]) == {"A-00000"}, "one invoice linked to two orders"
    with session_scope(engine) as session:
        b = session.scalars(sa.select(Order).where(Order.order_number == "B-00000")).one()
        assert (b.status, b.qb_invoice_id) == (OrderStatus.FAILED, None)
        assert f"Id {first['Id']}" in b.status_reason and "'A-00000'" in b.status_reason
    assert order_numbers(engine, OrderStatus.SYNCED) == {"A-00000", "B-00001", "B-00002"}  # the others go on
    assert invoices_per_order(sandbox) == Counter({"B-00000": 1, "B-00001": 1, "B-00002": 1})


def order_body(engine, order_id: int) -> dict:
    with session_scope(engine) as session:
        return draft_invoice(session, session.get(Order, order_id)).payload()


def test_safeguard_strict_link_refuses_an_invoice_marked_as_another_orders(sandbox, make_gateway, engine):
    drop_the_one_invoice_one_order_constraint(engine)  # the marker rule alone decides
    gateway = make_gateway()
    build_shop(sandbox, gateway, engine)
    add_orders(engine, 1, prefix="K")
    push_orders(gateway, engine, "run-1")  # K-00000's invoice, marked "qb_pipeline order K-00000"
    (order_id,) = add_orders(engine, 1, prefix="M")
    # A person copied K-00000's invoice in QuickBooks (the copy keeps its private note) and typed order
    # M-00000 on it: M-00000's number, customer, lines and total; only the marker names another order.
    copy = gateway.create(
        "Invoice", {**order_body(engine, order_id), "PrivateNote": "qb_pipeline order K-00000"}, request_id="copy"
    )
    push_orders(gateway, engine, "run-2", safeguards=alone("strict_link"))  # QuickBooks answers 6140
    assert holders(engine, copy["Id"]) == set(), "an invoice marked as another order's was linked"
    with session_scope(engine) as session:
        order = session.get(Order, order_id)
        assert (order.status, order.qb_invoice_id) == (OrderStatus.FAILED, None)
        assert order.next_attempt_at is None  # it waits for a person, it is not retried into the same wall
        for named in (f"Id {copy['Id']}", "M-00000", "marked as the invoice of order 'K-00000'", "Renumber the order"):
            assert named in order.status_reason
    assert len(sandbox.dump("Invoice")["records"]) == 2  # K-00000's and the copy: nothing created for M-00000


def test_an_invoice_typed_by_hand_with_the_orders_number_and_no_marker_is_not_linked(sandbox, make_gateway, engine):
    gateway = make_gateway()
    build_shop(sandbox, gateway, engine)
    (order_id,) = add_orders(engine, 1, prefix="T")
    # Someone typed invoice T-00000 in QuickBooks: same number, customer, lines and total; no marker.
    typed = gateway.create(
        "Invoice", {**order_body(engine, order_id), "PrivateNote": "typed by hand"}, request_id="typed-by-hand"
    )
    push_orders(gateway, engine, "run-1")  # every safeguard on; QuickBooks answers 6140
    with session_scope(engine) as session:
        order = session.get(Order, order_id)
        assert (order.status, order.qb_invoice_id) == (OrderStatus.FAILED, None), "linked to an unmarked invoice"
        assert f"Id {typed['Id']}" in order.status_reason and "T-00000" in order.status_reason
    assert len(sandbox.dump("Invoice")["records"]) == 1
