"""Write-ahead batches, a safeguard of `sync/invoices.py`: a batch is recorded (orders, exact body, a
requestid) before it is sent, and any resend of those orders re-sends that body with that requestid
first, so QuickBooks can answer with its first result."""

from __future__ import annotations

import json
import uuid

import sqlalchemy as sa

from qb_pipeline.db.models import InvoiceBatch, Order
from qb_pipeline.db.session import session_scope
from qb_pipeline.sync.invoice_outcomes import PushRun
from qb_pipeline.sync.unknown_outcomes import Batch, note_sending


def new_request_id() -> str:
    return uuid.uuid4().hex  # 32 characters; QuickBooks allows 36 on /batch


def wire_items(bodies: dict[int, dict]) -> dict[int, tuple[str, dict]]:
    """order id → (bId, body), amounts as strings, exactly as python-quickbooks puts them on the wire."""
    return {
        order_id: (str(n), json.loads(json.dumps(body, default=str)))
        for n, (order_id, body) in enumerate(bodies.items())
    }


class WriteAhead:
    def __init__(self, run: PushRun) -> None:
        self.run = run

    def record(self, bodies: dict[int, dict]) -> Batch:
        """Which orders, the exact body and a requestid, committed before anything is sent."""
        items = wire_items(bodies)
        with session_scope(self.run.engine) as session:
            record = InvoiceBatch(
                realm_id=self.run.qb.realm_id,
                request_id=new_request_id(),
                run_id=self.run.run_id,
                payload={
                    "items": [
                        {"order_id": order_id, "bId": bid, "body": body} for order_id, (bid, body) in items.items()
                    ]
                },
            )
            session.add(record)
            session.flush()
            batch = Batch(record.request_id, record.id, items)
            note_sending(self.run, batch)  # stamped with the record: one UPDATE of the batch's orders, not two
            session.execute(
                sa.update(Order)
                .where(Order.id.in_(list(items)))
                .values(
                    invoice_batch_id=record.id,
                    outcome_unknown_at=batch.unknown_at,
                    sent_preferences_version=batch.preferences_version,
                )
                .execution_options(synchronize_session=False)
            )
            return batch

    def request_id_for_resend(self, batch: Batch) -> str:
        """The requestid a batch whose outcome is unknown goes again with: its first."""
        return batch.request_id

    def recorded_batches(self, order_ids: list[int]) -> list[Batch]:
        """The recorded batches of this run's `order_ids` whose outcome is not known yet, as they were sent."""
        with session_scope(self.run.engine) as session:
            rows = session.execute(
                sa.select(
                    Order.id,
                    Order.outcome_unknown_at,
                    Order.sent_preferences_version,
                    InvoiceBatch.id,
                    InvoiceBatch.request_id,
                    InvoiceBatch.payload,
                )
                .join(InvoiceBatch, InvoiceBatch.id == Order.invoice_batch_id)
                .where(Order.id.in_(order_ids), Order.claimed_by == self.run.run_id)
            ).all()
        batches: dict[int, Batch] = {}
        for order_id, unknown_at, version, record_id, request_id, payload in rows:
            item = next(i for i in payload["items"] if i["order_id"] == order_id)
            batch = batches.setdefault(record_id, Batch(request_id, record_id, {}))
            batch.items[order_id] = (item["bId"], item["body"])
            batch.note_unanswered(unknown_at, version)
        return list(batches.values())
