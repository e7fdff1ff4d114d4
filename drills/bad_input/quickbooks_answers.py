"""QuickBooks answering badly (faults, timeouts, broken pages): the run goes on and loses nothing."""

from collections.abc import Callable

import sqlalchemy as sa

from drills.bad_input.harness import Drill, check, needs
from qb_pipeline.core.errors import QuickBooksError
from qb_pipeline.db.models import (
    Customer,
    Order,
    OrderStatus,
    SyncCursor,
)
from qb_pipeline.db.session import session_scope
from qb_pipeline.sync.pull import pull_name_list
from qb_pipeline.sync.push import push_name_list


def invoice_batch_fault(kind: str, count: int, *needles: str, retried_later: bool = False, **extra) -> Callable:
    def run(d: Drill) -> str:
        d.fresh()
        orders = [d.add_order(f"SO-{n}", customer=n % 4, lines=[(n % 3, "2", None)]) for n in range(4)]
        d.inject(kind, "/batch", count, **extra)
        d.push()
        error = " | ".join(m for m in d.progress if "retry" in m)
        rows = [d.order(i) for i in orders]
        if retried_later or any(r.status != OrderStatus.SYNCED for r in rows):
            error = rows[0].status_reason or ""
            check(
                all(r.status == OrderStatus.FAILED and r.next_attempt_at for r in rows),
                "orders are not failed-and-retryable: "
                + ", ".join(f"{r.status.value}/{r.next_attempt_at}" for r in rows),
                error,
            )
            needs(error, needles)
            d.retry_due()
        else:
            needs(error, needles)
        d.check_synced_once(orders)
        return error

    return run


def lookup_fault(d: Drill) -> str:
    """An order whose invoice reached QBO but was never recorded (a crash); its lookup answer lacks every field."""
    d.fresh()
    order = d.add_order("SO-LOST")
    d.push()
    with session_scope(d.engine) as s:  # as if the run died after the write: pending again, attempted once
        s.execute(sa.update(Order).values(status=OrderStatus.PENDING, qb_invoice_id=None, synced_at=None))
    d.inject("missing-fields", "/query", 1)
    result = d.push("drill-2")
    d.check_synced_once([order])
    return "; ".join(result.reasons) or f"(recovered: {result.linked} linked, {result.pushed} created)"


def pull_fault(kind: str, count: int, *needles: str) -> Callable:
    def run(d: Drill) -> str:
        d.fresh(customers=40, pull=())
        d.inject(kind, "/query", count)
        try:
            result = pull_name_list(d.gateway, d.engine, "Customer")
        except QuickBooksError as error:
            with session_scope(d.engine) as s:
                check(
                    s.get(SyncCursor, (d.gateway.realm_id, "Customer")) is None, "cursor advanced after a failed pull"
                )
            needs(str(error), needles)
            return str(error)
        error = " | ".join(m for m in d.progress if "retry" in m)
        check(
            result.pulled == 40,
            f"pull finished without error but holds {result.pulled} of 40 customers; "
            "the cursor moved on, so the rest are never pulled",
            error or "(no error)",
        )
        needs(error, needles)
        return error

    return run


def customer_push_fault(d: Drill) -> str:
    d.fresh()
    with session_scope(d.engine) as s:
        s.add_all([Customer(display_name=f"New Customer {n}") for n in range(3)])
    d.inject("missing-fields", "/batch", 1)
    first = push_name_list(d.gateway, d.engine, "Customer")
    error = "; ".join(first.errors) or " | ".join(m for m in d.progress if "retry" in m)
    d.control("DELETE", "inject")
    push_name_list(d.gateway, d.engine, "Customer")
    names = [r["DisplayName"] for r in d.control("GET", "dump/Customer")["records"]]
    with session_scope(d.engine) as s:
        stuck = s.scalars(sa.select(Customer.display_name).where(Customer.qb_id.is_(None))).all()
    check(
        not stuck,
        f"a transient failure left {len(stuck)} customers FAILED; the next push skips them "
        "(they wait for a manual edit)",
        error,
    )
    check(all(names.count(f"New Customer {n}") == 1 for n in range(3)), "customers duplicated or missing in QBO", error)
    return error


QBO_CASES = [
    ("truncated JSON on the invoice batch, once", invoice_batch_fault("truncated", 1, "non-JSON")),
    (
        "truncated JSON on every invoice batch try",
        invoice_batch_fault("truncated", 10, "non-JSON", "gave up", retried_later=True),
    ),
    ("missing-fields on the invoice batch", invoice_batch_fault("missing-fields", 1, "answer")),
    ("non-JSON 200 on the invoice batch, once", invoice_batch_fault("non-json", 1, "non-JSON")),
    ("429 as XML, then success", invoice_batch_fault("429-xml", 1, "throttled")),
    ("connection dropped mid-response, once", invoice_batch_fault("drop", 1, "Error")),
    ("HTTP 500, then success", invoice_batch_fault("500", 1, "HTTP 500")),
    ("HTTP 503 on every try", invoice_batch_fault("503", 10, "503", "gave up", retried_later=True)),
    ("answer lost after the write (timeout)", invoice_batch_fault("timeout", 1, "Timeout", seconds=3)),
    ("missing-fields on the invoice lookup of a retried order", lookup_fault),
    ("truncated JSON on a customer pull query, once", pull_fault("truncated", 1, "non-JSON")),
    ("truncated JSON on every customer pull query", pull_fault("truncated", 10, "non-JSON", "gave up")),
    ("missing-fields on a customer pull query", pull_fault("missing-fields", 1, "QueryResponse")),
    ("missing-fields on the customer create batch", customer_push_fault),
]
