"""Change data capture: what changed in one entity since an instant, in one call (QuickBooks keeps 30
days of changes and answers at most 1000 objects; past that the caller pages instead)."""

from __future__ import annotations

from datetime import datetime

from qb_pipeline.core.port import ChangeSet
from qb_pipeline.quickbooks.queries import format_instant
from qb_pipeline.quickbooks.retry import QuickBooksCalls

CDC_CAP = 1000


def changes_since(calls: QuickBooksCalls, entity: str, since: datetime) -> ChangeSet:
    answer = calls.call(
        "cdc",
        f"changes to {entity}",
        lambda qb: qb.change_data_capture(entity, format_instant(since)),
        expect="CDCResponse",
    )
    return change_set(entity, answer)


def change_set(entity: str, answer: dict) -> ChangeSet:
    """The records of `entity` in a CDC answer, changed (active or not) apart from deleted (tombstones)."""
    changed, deleted, total = [], [], 0
    for group in answer.get("CDCResponse", [{}])[0].get("QueryResponse", []):
        for record in group.get(entity, []):
            total += 1
            (deleted if record.get("status") == "Deleted" else changed).append(record)
    return ChangeSet(changed=changed, deleted_ids=[str(r["Id"]) for r in deleted], truncated=total >= CDC_CAP)
