"""Writers of one customer's or price level's pricing queue on its `pricing_locks` row.

Each writer bumps the versions of the rows of what it touches, in sorted order, in the transaction
that changes it; on PostgreSQL each row then stays locked until commit, so writers of one key queue
(with or without the exclusion constraint), and an import that planned outside any transaction sees
from the versions whether a key it read has changed since.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from qb_pipeline.db.names import name_key
from qb_pipeline.db.pricing_imports import PricingLock
from qb_pipeline.sync.price_book import IN_LIST_CHUNK
from qb_pipeline.sync.pricing_csv import END
from qb_pipeline.sync.pricing_plan import Level, Plan, make_plan, read_history, read_levels
from qb_pipeline.sync.pricing_rows import Parsed


def lock_keys(parsed: Parsed, levels: dict[str, Level], realm_id: str | None) -> list[str]:
    """The pricing_locks rows of what the file touches, sorted (every writer takes them in this order). A level
    not created yet is locked by its company and name (two companies may each have a level of that name)."""
    keys = set()
    for intent in parsed.intents:
        if intent.customer_id is not None:
            keys.add(f"customer:{intent.customer_id}")
        if intent.kind in ("level_percent", "level_item") or (intent.level_name or END).upper() != END:
            level = levels.get(name_key(intent.level_name))
            keys.add(f"price_level:{level.id}" if level else f"level_name:{realm_id}:{name_key(intent.level_name)}")
    return sorted(keys)


def plan_locked(session: Session, parsed: Parsed, *, realm_id: str | None, now, backdate: bool, strict: bool) -> Plan:
    """Take the file's locks, then plan against company `realm_id`'s history as it is: nobody changes it
    until commit."""
    levels = read_levels(session, realm_id)
    held: set[str] = set()
    while True:
        keys = [key for key in lock_keys(parsed, levels, realm_id) if key not in held]
        if not keys:
            break
        take_locks(session, keys, realm_id)
        held.update(keys)
        levels = read_levels(session, realm_id)  # a level created while we queued is locked by its id too
    history = read_history(session, parsed, levels)
    plan = make_plan(parsed, history, levels, now=now, backdate=backdate, strict=strict)
    plan.realm_id = realm_id
    return plan


def take_locks(session: Session, keys: list[str], realm_id: str | None) -> dict[str, int]:
    """Bump each lock's version (creating it at 1), in the given order; on PostgreSQL each row stays
    locked until commit. Returns the versions after the bump."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    statement = insert(PricingLock).on_conflict_do_update(
        index_elements=["lock_key"], set_={"version": PricingLock.version + 1}
    )
    for start in range(0, len(keys), IN_LIST_CHUNK):
        chunk = keys[start : start + IN_LIST_CHUNK]
        session.execute(statement, [{"lock_key": key, "realm_id": realm_id, "version": 1} for key in chunk])
    return read_versions(session, keys)


def read_versions(session: Session, keys: list[str]) -> dict[str, int]:
    versions = dict.fromkeys(keys, 0)
    for start in range(0, len(keys), IN_LIST_CHUNK):
        chunk = keys[start : start + IN_LIST_CHUNK]
        versions.update(
            session.execute(
                sa.select(PricingLock.lock_key, PricingLock.version).where(PricingLock.lock_key.in_(chunk))
            ).all()
        )
    return versions
