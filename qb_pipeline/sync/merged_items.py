"""Items merged away in QuickBooks: deactivated here, and named with the item that replaced them.

QuickBooks merges two items when one is renamed to the other's name (its UI only; the API cannot). The
merged-away item is deleted there: CDC returns it with status "Deleted" (items cannot be deleted any
other way: only made inactive), and a query no longer finds it, so an invoice naming it is refused
(2500). Only the Merge notification says which item survived: it names the survivor, with the merged-
away Id as `deletedid` (docs/qbo-api.md). Either source is enough to deactivate the item; the survivor
is filled in from a notification whenever one has arrived, before or after the pull that saw the deletion.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from qb_pipeline.core.quickbooks_entities import ITEM
from qb_pipeline.db.models import Item, WebhookEvent


def merged_away(name: str, survivor: str | None) -> str:
    """What happened to an item, in a person's words (`survivor`: the replacing item's name, if known)."""
    if survivor is None:
        return (
            f"item {name!r} was merged into another item in QuickBooks (deleted there; QuickBooks' change "
            "feed does not say which)"
        )
    return f"item {name!r} was merged into {survivor!r} in QuickBooks"


def order_reason(name: str, survivor: str | None, order_number: str) -> str:
    """Why an order naming a merged-away item fails, and the command that corrects it."""
    fix = f"name {survivor!r} instead" if survivor else "name the item that replaced it"
    return (
        f"{merged_away(name, survivor)}: correct the order to {fix} "
        f"(`qb-pipeline orders edit {order_number} --line ITEM:QTY --line …`)"
    )


def record_merged_items(session: Session, deleted_qb_ids: Iterable[str], now: datetime, realm_id: str) -> list[str]:
    """Deactivate the items QuickBooks reported deleted (`deleted_qb_ids`, from CDC) or merged away (Merge
    notifications stored here), and note the survivor a notification names. Returns one activity-log
    sentence per item newly merged away or newly given its survivor."""
    survivors = dict(
        session.execute(
            sa.select(WebhookEvent.merged_away_id, WebhookEvent.entity_id).where(
                WebhookEvent.realm_id == realm_id,
                WebhookEvent.entity == ITEM.name,
                WebhookEvent.operation == "merged",
                WebhookEvent.merged_away_id.is_not(None),
            )
        ).all()
    )
    gone = set(deleted_qb_ids) | set(survivors)
    if not gone:
        return []
    news = []
    for item in session.scalars(sa.select(Item).where(Item.realm_id == realm_id, Item.qb_id.in_(sorted(gone)))):
        survivor_id = survivors.get(item.qb_id)
        newly_gone = item.merged_away_at is None
        if not newly_gone and (survivor_id is None or item.merged_into_qb_id == survivor_id):
            continue
        if newly_gone:
            item.merged_away_at = now
        item.active = False
        item.merged_into_qb_id = survivor_id or item.merged_into_qb_id
        news.append((item.name, item.merged_into_qb_id))
    session.flush()
    names = survivor_names(session, {survivor for _name, survivor in news if survivor}, realm_id)
    return [f"{merged_away(name, names.get(survivor))}; deactivated here" for name, survivor in news]


def survivor_names(session: Session, qb_ids: set[str], realm_id: str | None) -> dict[str, str]:
    """The names of the items that replaced merged-away ones, by QuickBooks Id in company `realm_id` (None:
    any; one not mirrored yet is named by its Id)."""
    if not qb_ids:
        return {}
    found = dict(
        session.execute(
            sa.select(Item.qb_id, Item.name).where(
                Item.qb_id.in_(sorted(qb_ids)), *(() if realm_id is None else (Item.realm_id == realm_id,))
            )
        ).all()
    )
    return {qb_id: found.get(qb_id, f"QuickBooks item {qb_id}") for qb_id in qb_ids}
