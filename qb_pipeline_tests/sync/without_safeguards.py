"""Each at-most-once safeguard's absence, for the proof tests and `make mutation-check` only.

The package has no switch: a push is built from `Safeguards`, the parts that carry the protections.
A proof test hands it a set in which every part but one is replaced by its absence below, the part's
one job undone and nothing else changed, so that each protection is seen to hold on its own.
"""

from __future__ import annotations

from dataclasses import fields, replace

from qb_pipeline.core.port import InvoiceNumbering
from qb_pipeline.sync.invoice_claims import Heartbeat
from qb_pipeline.sync.invoice_linking import Lookup
from qb_pipeline.sync.invoice_match import StrictLink
from qb_pipeline.sync.invoice_write_ahead import WriteAhead, new_request_id, wire_items
from qb_pipeline.sync.invoices import Safeguards
from qb_pipeline.sync.unknown_outcomes import Batch, NumberingCheck, Settle, stamp_unanswered


class NoWriteAhead(WriteAhead):
    """Nothing recorded before a send; every resend goes with a new requestid."""

    def record(self, bodies: dict[int, dict]) -> Batch:
        batch = Batch(new_request_id(), None, wire_items(bodies))
        stamp_unanswered(self.run, batch)
        return batch

    def request_id_for_resend(self, batch: Batch) -> str:
        return new_request_id()


class NoLookup(Lookup):
    """Nothing looked up: an order an earlier attempt may have sent is sent again."""

    def link_found(self, bodies: dict[int, dict]) -> set[int]:
        return set()


class NoNumberingCheck(NumberingCheck):
    """The company's numbering never read: pushed whether or not it keeps our DocNumbers."""

    def require_ours(self, numbering: InvoiceNumbering) -> None:
        pass

    def changed_since_sent(self, batch: Batch) -> bool:
        return False


class NoSettle(Settle):
    """A batch whose outcome is unknown is looked up at once, however recently it went."""

    def wait_needed(self, batch: Batch, pause: float) -> float | None:
        return pause


class CustomerOnlyLink(StrictLink):
    """An invoice found by number is linked when its customer matches, whoever holds it."""

    def differences(self, body: dict, record: dict) -> list[str]:
        return []

    def may_link(self, holder: int | None, order_id: int) -> bool:
        return True


class NoHeartbeat(Heartbeat):
    """Claims never renewed nor checked: every order taken as still held."""

    def still_ours(self, order_ids) -> set[int]:
        return set(order_ids)


ABSENT = {
    "write_ahead": NoWriteAhead,
    "lookup": NoLookup,
    "numbering_check": NoNumberingCheck,
    "settle": NoSettle,
    "strict_link": CustomerOnlyLink,
    "heartbeat": NoHeartbeat,
}
NAMES = [f.name for f in fields(Safeguards)]
assert sorted(ABSENT) == sorted(NAMES), "every safeguard needs its absence here"


def safeguards_only(*names: str) -> Safeguards:
    """Every safeguard absent but `names`: how a test shows one of them holding alone."""
    unknown = set(names) - set(NAMES)
    if unknown:
        raise ValueError(f"no such safeguard: {sorted(unknown)}")
    return replace(Safeguards(), **{name: ABSENT[name] for name in NAMES if name not in names})
