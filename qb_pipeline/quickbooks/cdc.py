"""Change data capture: what changed since an instant, for one entity or several in one call (QuickBooks
takes a list; it keeps 30 days of changes and answers at most 1000 objects in all, past which the caller
pages instead).

Every CDC call is a metered read (docs/qbo-api.md §15), so the assets of one run share a `ChangeFeed`: the
first pull asks for every entity the run will pull, and the others take their part of that answer.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from datetime import datetime, timezone

from qb_pipeline.core.port import ChangeSet
from qb_pipeline.quickbooks.queries import format_instant
from qb_pipeline.quickbooks.retry import QuickBooksCalls

CDC_CAP = 1000
HELD_FOR_SECONDS = 600.0  # an answer kept for a later pull of the run is not used past this


class ChangeFeed:
    """CDC answers asked once for several entities and handed out once per entity.

    Each part keeps the instant its call was sent (`ChangeSet.as_of`): a pull that takes it marks only
    that much covered, so what changed after the call is read by the next pull, never skipped."""

    def __init__(self, clock=time.monotonic) -> None:
        self._lock = threading.Lock()
        self._held: dict[str, tuple[datetime, float, ChangeSet]] = {}  # entity → (since, when fetched, part)
        self._clock = clock

    def changes_since(
        self, calls: QuickBooksCalls, entity: str, since: datetime, together_with: Mapping[str, datetime] | None = None
    ) -> ChangeSet:
        with self._lock:
            held = self._held.pop(entity, None)
            if held is not None and held[0] <= since and self._clock() - held[1] < HELD_FOR_SECONDS:
                return held[2]
            wanted = {entity: since, **{other: at for other, at in (together_with or {}).items() if other != entity}}
            parts = _ask(calls, wanted)
            fetched = self._clock()
            for other, part in parts.items():
                if other != entity:
                    self._held[other] = (wanted[other], fetched, part)
            return parts[entity]


def _ask(calls: QuickBooksCalls, wanted: Mapping[str, datetime]) -> dict[str, ChangeSet]:
    """One CDC call for every entity of `wanted`, since the earliest of their instants (a later one gets
    a few records it already holds: pulls upsert on the QuickBooks Id)."""
    names, earliest = ",".join(wanted), min(wanted.values())
    sent = datetime.now(timezone.utc)
    answer = calls.call(
        "cdc",
        f"changes to {', '.join(wanted)}",
        lambda qb: qb.change_data_capture(names, format_instant(earliest)),
        expect="CDCResponse",
    )
    return change_sets(list(wanted), answer, as_of=sent)


def change_sets(entities: list[str], answer: dict, *, as_of: datetime | None = None) -> dict[str, ChangeSet]:
    """Each entity's records in a CDC answer, changed (active or not) apart from deleted (tombstones). The
    1000-object cap is on the whole answer: when it is reached, every part may be missing records."""
    changed: dict[str, list[dict]] = {entity: [] for entity in entities}
    deleted: dict[str, list[str]] = {entity: [] for entity in entities}
    total = 0
    for group in answer.get("CDCResponse", [{}])[0].get("QueryResponse", []):
        for entity in entities:
            for record in group.get(entity, []):
                total += 1
                if record.get("status") == "Deleted":
                    deleted[entity].append(str(record["Id"]))
                else:
                    changed[entity].append(record)
    truncated = total >= CDC_CAP
    return {
        entity: ChangeSet(changed=changed[entity], deleted_ids=deleted[entity], truncated=truncated, as_of=as_of)
        for entity in entities
    }
