"""Orders whose invoice QuickBooks already has are linked to it, not sent again.

The lookup is a safeguard of `sync/invoices.py`: before any resend whose outcome is unknown, and for an
order an earlier attempt may have sent, one `DocNumber IN (…)` query; an invoice it lists is the outcome
(linked only when it is the order's own: `sync/invoice_match.py`).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from qb_pipeline.db.session import session_scope
from qb_pipeline.sync.invoice_draft import InvoiceDraft
from qb_pipeline.sync.invoice_outcomes import OutcomeRecorder, PushRun, mirror_invoice_rows
from qb_pipeline.sync.unknown_outcomes import Batch, UnknownOutcomes


class Linker:
    """Links an order to an invoice found by its number, or fails it with a reason naming both."""

    def __init__(self, run: PushRun, recorder: OutcomeRecorder) -> None:
        self.run, self.recorder = run, recorder

    def link_or_fail(self, session: Session, order_id: int, body: dict, candidates: list[dict], mirrored) -> None:
        problems = {record["Id"]: self.recorder.link_rule.mismatch(body, record) for record in candidates}
        matching = [record for record in candidates if not problems[record["Id"]]]
        if matching:
            self.recorder.finish_synced(
                session, order_id, min(matching, key=lambda r: int(r["Id"])), mirrored, linked=True
            )
            return
        record = candidates[0]
        self.recorder.finish_refused(
            session,
            order_id,
            (
                f"QuickBooks already has invoice {body['DocNumber']} (Id {record['Id']}) that is not this order's: "
                f"{problems[record['Id']]}. Renumber the order, or correct that invoice in QuickBooks, then retry the "
                "order"
            ),
        )

    def link_found(self, bodies: dict[int, dict]) -> set[int]:
        """Look the bodies' DocNumbers up; orders whose invoice exists are linked (or failed on a mismatch)."""
        if not bodies:
            return set()
        existing = self.run.qb.find_invoices([body["DocNumber"] for body in bodies.values()])
        handled: set[int] = set()
        with session_scope(self.run.engine) as session:
            mirrored: dict[str, dict] = {}
            for order_id, body in bodies.items():
                candidates = existing.get(body["DocNumber"])
                if candidates:
                    self.link_or_fail(session, order_id, body, candidates, mirrored)
                    handled.add(order_id)
            mirror_invoice_rows(session, mirrored)
        return handled


class Lookup:
    """The lookup before sending an order an earlier attempt may have sent."""

    def __init__(self, linker: Linker) -> None:
        self.linker = linker

    def link_found(self, bodies: dict[int, dict]) -> set[int]:
        """The orders among `bodies` whose invoice QuickBooks has (linked or failed now)."""
        return self.linker.link_found(bodies)


def link_earlier_attempts(
    drafts: dict[int, InvoiceDraft], maybe_sent: dict[int, tuple], unknown: UnknownOutcomes, lookup: Lookup
) -> None:
    """Orders an earlier attempt may have sent (→ when it last went unanswered, and under which
    preferences): once QuickBooks is surely done with that attempt, an invoice already in QuickBooks is
    their outcome. Handled orders leave `drafts`."""
    in_doubt = Batch("earlier attempts", None, {})
    for order_id, (unknown_at, version) in maybe_sent.items():
        if order_id in drafts and unknown_at is not None:
            in_doubt.items[order_id] = ("", drafts[order_id].payload())
            in_doubt.note_unanswered(unknown_at, version)
    if in_doubt.items and unknown.hold_back(in_doubt):
        for order_id in in_doubt.items:
            drafts.pop(order_id)
    bodies = {i: drafts[i].payload() for i in maybe_sent if i in drafts and drafts[i].in_quickbooks}
    for order_id in lookup.link_found(bodies):
        drafts.pop(order_id)
