"""Merging customers or items, as QuickBooks' UI does (the API cannot; the control API's
POST /_sandbox/merge stands in for it)."""

from __future__ import annotations

import copy
from decimal import Decimal

from qb_pipeline.sandbox.store import Store, qbo_time

MERGEABLE = {"Customer", "Item"}  # the name lists the sandbox holds that QuickBooks' UI can merge


def merge(store: Store, realm: str, entity: str, from_id: object, into_id: object) -> dict:
    """Merge record `from_id` into `into_id`, as renaming one customer or item to another's name in
    QuickBooks does: the transactions naming the merged-away record now name the survivor (each a new
    version, so CDC shows it), a customer's open balance moves to the survivor, the merged-away record
    is deleted (gone from reads and queries, a Deleted tombstone in CDC), and the survivor gets a new
    version and the one Merge notification (its id, and the merged-away id as `deletedId`).
    Raises LookupError when either record does not exist, ValueError for anything else refused."""
    if entity not in MERGEABLE:
        raise ValueError(f"merge is for {' or '.join(sorted(MERGEABLE))} records (got {entity!r})")
    loser, survivor = (_merge_party(store, realm, entity, i) for i in (from_id, into_id))
    if loser["Id"] == survivor["Id"]:
        raise ValueError("a record cannot be merged into itself")
    if entity == "Item" and loser.get("Type") != survivor.get("Type"):
        raise ValueError(f"QuickBooks merges items of one type only ({loser.get('Type')} ≠ {survivor.get('Type')})")
    now = qbo_time()
    name = survivor["DisplayName" if entity == "Customer" else "Name"]
    for kind in ("Invoice", "Payment", "CreditMemo"):
        relinked = [
            {
                **changed,
                "SyncToken": str(int(changed["SyncToken"]) + 1),
                "MetaData": {**changed["MetaData"], "LastUpdatedTime": now},
            }
            for changed in (_relinked(r, entity, loser["Id"], survivor["Id"], name) for r in store.all(realm, kind))
            if changed is not None
        ]
        if relinked:
            store.put_many(realm, kind, relinked)
            store.notify(realm, kind, "updated", relinked)
    merged = {
        **survivor,
        "SyncToken": str(int(survivor["SyncToken"]) + 1),
        "MetaData": {**survivor["MetaData"], "LastUpdatedTime": now},
    }
    if entity == "Customer":
        balance = Decimal(str(survivor.get("Balance", 0))) + Decimal(str(loser.get("Balance", 0)))
        merged.update(Balance=balance, BalanceWithJobs=balance)
    tombstone = {"domain": "QBO", "status": "Deleted", "Id": loser["Id"], "MetaData": {"LastUpdatedTime": now}}
    store.delete(realm, entity, int(loser["Id"]), tombstone)
    store.put(realm, entity, merged)
    store.notify(
        realm, entity, "merged", [{"Id": merged["Id"], "MetaData": merged["MetaData"], "deletedId": loser["Id"]}]
    )
    return {entity: merged, "deleted": tombstone}


def _merge_party(store: Store, realm: str, entity: str, record_id: object) -> dict:
    record = store.get(realm, entity, int(record_id)) if str(record_id).isdigit() else None
    if record is None:
        raise LookupError(f"{entity} {record_id} does not exist")
    return record


def _relinked(record: dict, entity: str, old_id: str, new_id: str, name: str) -> dict | None:
    """A copy of a transaction whose references to customer or item `old_id` (CustomerRef, or its lines'
    ItemRef) name `new_id` instead; None when it does not reference `old_id`."""

    def refs(r: dict) -> list[dict]:
        if entity == "Customer":
            found = [r.get("CustomerRef")]
        else:
            found = [(line.get("SalesItemLineDetail") or {}).get("ItemRef") for line in r.get("Line") or []]
        return [ref for ref in found if isinstance(ref, dict) and str(ref.get("value")) == old_id]

    if not refs(record):
        return None
    changed = copy.deepcopy(record)
    for ref in refs(changed):
        ref.update(value=new_id, name=name)
    return changed
