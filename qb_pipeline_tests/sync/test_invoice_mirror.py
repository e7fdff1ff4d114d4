"""The invoice mirror sees deletions even when change data capture cannot answer."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from quickbooks.objects.invoice import Invoice

from qb_pipeline.db.models import Order, QBInvoice, SyncCursor
from qb_pipeline.db.session import session_scope
from qb_pipeline.db.types import utcnow
from qb_pipeline.sync.invoice_mirror import mirror_invoices
from qb_pipeline.sync.invoices import push_orders
from qb_pipeline_tests.fixtures.orders import add_orders, build_shop


def test_the_paged_fallback_finds_an_invoice_deleted_in_quickbooks(sandbox, make_gateway, engine):
    gateway = make_gateway()
    build_shop(sandbox, gateway, engine)
    add_orders(engine, 3)
    push_orders(gateway, engine, "run-1")
    assert mirror_invoices(gateway, engine).mode == "full"
    doomed = sandbox.dump("Invoice")["records"][1]
    qb = sandbox.qb_client()
    Invoice.get(doomed["Id"], qb=qb).delete(qb=qb)
    with session_scope(engine) as session:  # a cursor older than CDC's 30 days: the mirror must page
        session.execute(sa.update(SyncCursor).values(covered_until=utcnow() - timedelta(days=40)))
    result = mirror_invoices(gateway, engine)
    assert (result.mode, result.deleted, result.flagged_orders) == ("query", 1, 1)
    with session_scope(engine) as session:
        states = dict(session.execute(sa.select(QBInvoice.qb_id, QBInvoice.status)).all())
        flagged = session.scalars(sa.select(Order.order_number).where(Order.qb_invoice_state == "deleted")).all()
    assert states[doomed["Id"]] == "deleted" and list(states.values()).count("deleted") == 1
    assert flagged == [doomed["DocNumber"]]
