"""A batch whose outcome is unknown, made ready to go again: held back while QuickBooks may still be
working on it or the company's numbering changed (`sync/unknown_outcomes.py`), stripped of orders this
run no longer holds and of those whose invoice the lookup finds, then stamped as on its way."""

from __future__ import annotations

from collections.abc import Iterator

from qb_pipeline.sync.invoice_claims import Heartbeat
from qb_pipeline.sync.invoice_linking import Lookup
from qb_pipeline.sync.invoice_outcomes import PushRun
from qb_pipeline.sync.invoice_write_ahead import WriteAhead
from qb_pipeline.sync.unknown_outcomes import Batch, UnknownOutcomes, stamp_unanswered


class Resend:
    def __init__(
        self,
        run: PushRun,
        unknown: UnknownOutcomes,
        heartbeat: Heartbeat,
        lookup: Lookup,
        write_ahead: WriteAhead,
        resend_wait: float,
    ) -> None:
        self.run, self.unknown, self.heartbeat, self.lookup = run, unknown, heartbeat, lookup
        self.write_ahead, self.resend_wait = write_ahead, resend_wait

    def ready(self, batch: Batch, attempt: int) -> bool:
        """Before the batch goes again (`attempt` > 0: the pause before it grows with it): False when
        none of it is left to send, its orders' outcomes recorded."""
        if self.unknown.hold_back(batch, pause=self.resend_wait * attempt):
            return False
        for order_id in set(batch.items) - self.heartbeat.still_ours(batch.items):
            del batch.items[order_id]
        for order_id in self.lookup.link_found({i: body for i, (_bid, body) in batch.items.items()}):
            del batch.items[order_id]
        if not batch.items:
            return False
        batch.request_id = self.write_ahead.request_id_for_resend(batch)
        stamp_unanswered(self.run, batch)  # a first send was stamped by its write-ahead record
        return True

    def recorded_batches(self, order_ids: list[int]) -> Iterator[Batch]:
        """Batches an earlier attempt recorded and sent without learning their outcome, to go first."""
        for batch in self.write_ahead.recorded_batches(order_ids):
            self.run.progress(
                f"re-sending recorded batch {batch.request_id} ({len(batch.items)} orders): its outcome was not known"
            )
            self.run.result.resent += len(batch.items)
            yield batch
