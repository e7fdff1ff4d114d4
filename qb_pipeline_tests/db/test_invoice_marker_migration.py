"""Upgrading to 0011: invoices mirrored before it are marked from their orders and read again."""

from datetime import datetime, timezone

import sqlalchemy as sa

from qb_pipeline.db.migrate import upgrade
from qb_pipeline.db.session import make_engine

NOW = datetime(2026, 11, 24, 12, tzinfo=timezone.utc)


def test_upgrading_marks_linked_invoices_and_makes_the_next_run_read_every_invoice(empty_database_url):
    upgrade(empty_database_url, "0008")
    engine = make_engine(empty_database_url)
    try:
        with engine.begin() as connection:  # rows written by the code of revision 0008, through plain SQL
            connection.execute(
                sa.text(
                    "INSERT INTO qb_invoices (realm_id, qb_id, doc_number, status, mirrored_at) "
                    "VALUES ('9130', :qb_id, :doc, 'open', :at)"
                ),
                [{"qb_id": "71", "doc": "SO-1", "at": NOW}, {"qb_id": "72", "doc": "HAND-1", "at": NOW}],
            )
            connection.execute(
                sa.text(
                    "INSERT INTO orders (order_number, ordered_at, status, attempts, qb_invoice_id, created_at, "
                    "updated_at) VALUES ('SO-1', :at, 'synced', 1, '71', :at, :at)"
                ),
                {"at": NOW},
            )
            connection.execute(
                sa.text(
                    "INSERT INTO sync_cursors (realm_id, entity, covered_until, updated_at) "
                    "VALUES ('9130', :entity, :at, :at)"
                ),
                [{"entity": "Invoice", "at": NOW}, {"entity": "Customer", "at": NOW}],
            )
        upgrade(empty_database_url)
        with engine.connect() as connection:
            marked = dict(connection.execute(sa.text("SELECT doc_number, marked_order FROM qb_invoices")).all())
            cursors = connection.execute(sa.text("SELECT entity FROM sync_cursors")).scalars().all()
        assert marked == {"SO-1": "SO-1", "HAND-1": None}
        assert cursors == ["Customer"]  # no invoice cursor: the next invoices run reads every invoice
    finally:
        engine.dispose()
