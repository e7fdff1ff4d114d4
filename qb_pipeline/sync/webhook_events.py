"""QuickBooks change notifications: verify, read (both of Intuit's formats), store once each.

Intuit signs each delivery: header `intuit-signature` = base64(HMAC-SHA256(verifier token, raw body)).
Events carry ids only; the records are fetched by the next CDC pull (quickbooks_changes_sensor), so a
notification lost on the way costs nothing but time: the hourly sync pulls the change anyway.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from qb_pipeline.db.models import WebhookEvent
from qb_pipeline.sync.entities import SYNCED, assets_notified_by
from qb_pipeline.sync.records import parse_instant

OPERATIONS = {
    "create": "created",
    "update": "updated",
    "delete": "deleted",
    "void": "voided",
    "merge": "merged",
    "emailed": "updated",
}


class BadDelivery(ValueError):
    """The body is not a QuickBooks notification (the receiver answers 400 with this message)."""


@dataclass(frozen=True)
class Event:
    key: str
    realm_id: str
    entity: str
    entity_id: str
    operation: str
    occurred_at: str | None
    merged_away_id: str | None = None  # a Merge names the surviving record; this is the one merged into it


@dataclass
class Stored:
    stored: int = 0
    duplicates: int = 0
    skipped: list[str] = field(default_factory=list)  # why each skipped event was skipped


def signature_ok(verifier_token: str, body: bytes, signature: str | None) -> bool:
    if not signature or not verifier_token:
        return False
    expected = base64.b64encode(hmac.new(verifier_token.encode(), body, hashlib.sha256).digest()).decode()
    return hmac.compare_digest(expected.encode(), signature.strip().encode())


def parse_delivery(body: bytes) -> list[Event]:
    """The events of one delivery: a CloudEvents array, or the legacy eventNotifications object."""
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise BadDelivery("the body is not JSON in UTF-8") from None
    if isinstance(payload, list):
        return [_cloud_event(item, n) for n, item in enumerate(payload)]
    if isinstance(payload, dict) and isinstance(payload.get("eventNotifications"), list):
        return [event for notification in payload["eventNotifications"] for event in _legacy(notification)]
    raise BadDelivery("not a QuickBooks notification: expected a CloudEvents array or eventNotifications")


def _cloud_event(item: object, n: int) -> Event:
    if not isinstance(item, dict):
        raise BadDelivery(f"event {n} is not an object")
    kind = str(item.get("type", ""))
    parts = kind.split(".")
    if len(parts) != 4 or parts[0] != "qbo" or not item.get("id") or not item.get("intuitentityid"):
        raise BadDelivery(
            f"event {n} is not a QuickBooks CloudEvent (type qbo.<entity>.<operation>.v1, id, intuitentityid)"
        )
    return Event(
        key=str(item["id"])[:255],
        realm_id=str(item.get("intuitaccountid", "")),
        entity=parts[1].capitalize() if parts[1].islower() else parts[1],
        entity_id=str(item["intuitentityid"]),
        operation=parts[2].lower(),
        occurred_at=_text(item.get("time")),
        merged_away_id=_text((item.get("data") if isinstance(item.get("data"), dict) else {}).get("deletedid")),
    )


def _legacy(notification: object) -> list[Event]:
    if not isinstance(notification, dict):
        raise BadDelivery("an eventNotifications entry is not an object")
    realm = str(notification.get("realmId", ""))
    entities = (notification.get("dataChangeEvent") or {}).get("entities")
    if not isinstance(entities, list):
        raise BadDelivery("an eventNotifications entry has no dataChangeEvent.entities list")
    events = []
    for entity in entities:
        if not isinstance(entity, dict) or not entity.get("name") or not entity.get("id"):
            raise BadDelivery("a dataChangeEvent entity has no name or id")
        operation = OPERATIONS.get(str(entity.get("operation", "")).lower(), str(entity.get("operation", "")).lower())
        key = "|".join(
            [realm, str(entity["name"]), str(entity["id"]), operation, _text(entity.get("lastUpdated")) or ""]
        )
        events.append(
            Event(
                key=key[:255],
                realm_id=realm,
                entity=str(entity["name"]),
                entity_id=str(entity["id"]),
                operation=operation,
                occurred_at=_text(entity.get("lastUpdated")),
                merged_away_id=_text(entity.get("deletedId")),
            )
        )
    return events


def _text(value: object) -> str | None:
    return None if value is None else str(value)[:40]


def store_events(session: Session, events: list[Event], realm_id: str) -> Stored:
    """Each event of our company for an entity we sync, once: a redelivered event stores nothing new."""
    result = Stored()
    rows = []
    for event in events:
        if event.realm_id != realm_id:
            result.skipped.append(f"company {event.realm_id or '?'} is not ours")
        elif not assets_notified_by(event.entity):
            result.skipped.append(f"{event.entity} changes are not synced")
        else:
            rows.append(
                {
                    "event_key": event.key,
                    "realm_id": event.realm_id,
                    "entity": event.entity,
                    "entity_id": event.entity_id[:32],
                    "operation": event.operation[:16],
                    "occurred_at": event.occurred_at,
                    "merged_away_id": event.merged_away_id and event.merged_away_id[:32],
                }
            )
    unique = list({row["event_key"]: row for row in rows}.values())
    if unique:
        insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[session.get_bind().dialect.name]
        inserted = session.execute(
            insert(WebhookEvent).on_conflict_do_nothing(index_elements=["event_key"]).returning(WebhookEvent.id), unique
        ).all()
        result.stored = len(inserted)
    result.duplicates = len(rows) - result.stored
    return result


def waiting_events(session: Session, realm_id: str | None = None) -> tuple[int, int | None, set[str]]:
    """(events not served yet, the newest one's id, the assets they concern), of company `realm_id` (every
    company's when None)."""
    waiting = _waiting(realm_id)
    count, newest = session.execute(sa.select(sa.func.count(), sa.func.max(WebhookEvent.id)).where(*waiting)).one()
    entities = set(session.scalars(sa.select(WebhookEvent.entity).where(*waiting).distinct()))
    return count, newest, {asset for entity in entities for asset in assets_notified_by(entity)}


def waiting_realms(session: Session) -> list[str]:
    """The companies with events not served yet."""
    return sorted(session.scalars(sa.select(WebhookEvent.realm_id).where(*_waiting(None)).distinct()))


def _waiting(realm_id: str | None) -> list:
    company = [WebhookEvent.realm_id == realm_id] if realm_id is not None else []
    return [WebhookEvent.processed_at.is_(None), *company]


def mark_served(session: Session, through_id: int, run_id: str, now, realm_id: str | None = None) -> int:
    """Events up to `through_id` (of company `realm_id`; every company's when None) were pulled by a run
    that succeeded. A run pulls one company's changes: another company's events stay waiting."""
    done = session.execute(
        sa.update(WebhookEvent)
        .where(WebhookEvent.id <= through_id, *_waiting(realm_id))
        .values(processed_at=now, run_id=run_id)
        .execution_options(synchronize_session=False)
    )
    return done.rowcount or 0


ALREADY_MIRRORED = "already-mirrored"  # run_id of a notification no pull was needed for


def serve_already_mirrored(session: Session, now) -> int:
    """Serve, without a pull, the waiting notifications our tables already hold: the record at that
    version or a newer one, written by any run (a push mirrors the invoices it just created). Both times
    compared are QuickBooks' own — the event's time and the record's LastUpdatedTime — so no clock skew
    enters. A deletion or merge leaves no newer version to compare with: those always get their pull."""
    served = 0
    for synced in SYNCED.values():
        waiting = session.execute(
            sa.select(WebhookEvent.id, WebhookEvent.realm_id, WebhookEvent.entity_id, WebhookEvent.occurred_at).where(
                WebhookEvent.processed_at.is_(None),
                WebhookEvent.entity == synced.name,
                WebhookEvent.operation.not_in(["deleted", "merged"]),
            )
        ).all()
        if not waiting:
            continue
        model = synced.model
        which = [model.qb_id.in_({e.entity_id for e in waiting})]
        if synced.per_company:
            which.append(model.realm_id.in_({e.realm_id for e in waiting}))
        company = model.realm_id if synced.per_company else sa.null()
        held = session.execute(sa.select(company, model.qb_id, model.qb_updated_at).where(*which)).all()
        # by company and Id: Ids repeat across companies
        newest = {(realm, qb_id): updated for realm, qb_id, updated in held if updated is not None}
        mine = (lambda e: (e.realm_id, e.entity_id)) if synced.per_company else (lambda e: (None, e.entity_id))
        covered = [e.id for e in waiting if _held_since(newest.get(mine(e)), e.occurred_at)]
        if covered:
            session.execute(
                sa.update(WebhookEvent)
                .where(WebhookEvent.id.in_(covered))
                .values(processed_at=now, run_id=ALREADY_MIRRORED)
                .execution_options(synchronize_session=False)
            )
            served += len(covered)
    return served


def _held_since(held_version, occurred_at: str | None) -> bool:
    if held_version is None or not occurred_at:
        return False
    try:
        return held_version >= parse_instant(occurred_at)
    except ValueError:
        return False  # a time we cannot read: the pull decides
