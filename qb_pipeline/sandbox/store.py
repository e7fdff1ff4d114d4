"""The sandbox's entity store: every record in memory (fast queries), written through to SQLite.

Records are kept in QBO's JSON shape, per realm and entity, in ascending Id order. Deleted invoices
stay as tombstones (for CDC) and are invisible to reads and queries. `requestid` answers are kept per
realm so a repeated request returns the original response.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterable
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

# The sandbox company's zone. QuickBooks writes timestamps in local time, each with the offset of its own
# date (-08:00 in winter, -07:00 in summer for Pacific time), and dates transactions in that zone.
COMPANY_TZ = ZoneInfo("America/Los_Angeles")
# The unique name of each entity, indexed so that a uniqueness check is a dict look-up.
UNIQUE_FIELDS = {"Customer": "DisplayName", "Item": "Name", "Invoice": "DocNumber", "Account": "Name"}
# One record per company, with ids of their own (CompanyInfo's is the realm id): not in the id sequence.
SINGLETONS = {"CompanyInfo", "Preferences"}


def private_file(path: Path | None) -> str:
    """A SQLite file readable by its owner only (it holds secrets); ":memory:" without a path. SQLite
    gives its -wal and -shm files the database file's mode."""
    if path is None:
        return ":memory:"
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    for file in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        if file.exists():
            file.chmod(0o600)
    return str(path)


def qbo_time(moment: datetime | None = None) -> str:
    """An instant as QBO writes it: local time with an offset, e.g. 2026-11-24T04:05:06-08:00."""
    return (moment or datetime.now(timezone.utc)).astimezone(COMPANY_TZ).isoformat(timespec="seconds")


def _json_default(value):
    if isinstance(value, Decimal):
        # A JSON number, as QBO sends. Exact: a float's repr round-trips any decimal of up to 15
        # significant digits, and readers parse numbers with parse_float=Decimal.
        return float(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def dumps(value) -> str:
    return json.dumps(value, default=_json_default, separators=(",", ":"))


def loads(text: str):
    return json.loads(text, parse_float=Decimal)


class Store:
    def __init__(self, path: Path | None = None) -> None:
        self._lock = threading.RLock()
        self._db = sqlite3.connect(private_file(path), check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(
            """
            CREATE TABLE IF NOT EXISTS records (realm TEXT, entity TEXT, id INTEGER, deleted INTEGER,
                                                data TEXT, PRIMARY KEY (realm, entity, id));
            CREATE TABLE IF NOT EXISTS replies (realm TEXT, request_id TEXT, status INTEGER, body TEXT,
                                                PRIMARY KEY (realm, request_id));
            CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
            """
        )
        # realm → entity → id → record ; tombstones: realm → entity → id → record
        self._records: dict[str, dict[str, dict[int, dict]]] = {}
        self._deleted: dict[str, dict[str, dict[int, dict]]] = {}
        self._names: dict[tuple[str, str], dict[str, set[int]]] = {}
        self.version = 0  # moves on every change, so answers computed from the records can be kept until then
        # Called with (realm, entity, operation, record) for every change a client could be told of.
        self.listeners: list = []
        for realm, entity, record_id, deleted, data in self._db.execute(
            "SELECT realm, entity, id, deleted, data FROM records ORDER BY id"
        ):
            target = self._deleted if deleted else self._records
            record = loads(data)
            target.setdefault(realm, {}).setdefault(entity, {})[record_id] = record
            if not deleted:
                self._index(realm, entity, None, record)

    # -- meta ------------------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self._lock, self._db:
            self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    # -- records ---------------------------------------------------------------------------------
    def next_id(self, realm: str) -> int:
        with self._lock:
            ids = [
                max(ids)
                for entities in (self._records.get(realm, {}), self._deleted.get(realm, {}))
                for entity, ids in entities.items()
                if ids and entity not in SINGLETONS
            ]
            return max(ids, default=0) + 1

    def get(self, realm: str, entity: str, record_id: int) -> dict | None:
        return self._records.get(realm, {}).get(entity, {}).get(record_id)

    def all(self, realm: str, entity: str) -> Iterable[dict]:
        return list(self._records.get(realm, {}).get(entity, {}).values())

    def deleted(self, realm: str, entity: str) -> list[dict]:
        return list(self._deleted.get(realm, {}).get(entity, {}).values())

    def ids_named(self, realm: str, entity: str, name: str) -> set[int]:
        """Ids of the records whose unique field equals `name`, case-insensitively."""
        return set(self._names.get((realm, entity), {}).get(name.strip().lower(), ()))

    def _index(self, realm: str, entity: str, old: dict | None, new: dict | None) -> None:
        field = UNIQUE_FIELDS.get(entity)
        if field is None:
            return
        names = self._names.setdefault((realm, entity), {})
        for record, add in ((old, False), (new, True)):
            if record is None or record.get(field) in (None, ""):
                continue
            key = str(record[field]).strip().lower()
            ids = names.setdefault(key, set())
            (ids.add if add else ids.discard)(int(record["Id"]))

    def put(self, realm: str, entity: str, record: dict) -> None:
        self.put_many(realm, entity, [record])

    def put_many(self, realm: str, entity: str, records: list[dict]) -> None:
        with self._lock, self._db:
            self.version += 1
            bucket = self._records.setdefault(realm, {}).setdefault(entity, {})
            for record in records:
                self._index(realm, entity, bucket.get(int(record["Id"])), record)
                bucket[int(record["Id"])] = record
            self._db.executemany(
                "INSERT OR REPLACE INTO records VALUES (?, ?, ?, 0, ?)",
                [(realm, entity, int(r["Id"]), dumps(r)) for r in records],
            )

    def delete(self, realm: str, entity: str, record_id: int, tombstone: dict) -> None:
        with self._lock, self._db:
            self.version += 1
            self._index(realm, entity, self._records.get(realm, {}).get(entity, {}).pop(record_id, None), None)
            self._deleted.setdefault(realm, {}).setdefault(entity, {})[record_id] = tombstone
            self._db.execute(
                "INSERT OR REPLACE INTO records VALUES (?, ?, ?, 1, ?)", (realm, entity, record_id, dumps(tombstone))
            )

    def notify(self, realm: str, entity: str, operation: str, records: list[dict]) -> None:
        for listener in self.listeners:
            for record in records:
                listener(realm, entity, operation, record)

    # -- requestid replay ------------------------------------------------------------------------
    def reply_for(self, realm: str, request_id: str) -> tuple[int, str] | None:
        row = self._db.execute(
            "SELECT status, body FROM replies WHERE realm = ? AND request_id = ?", (realm, request_id)
        ).fetchone()
        return (row[0], row[1]) if row else None

    def remember_reply(self, realm: str, request_id: str, status: int, body: str) -> None:
        with self._lock, self._db:
            self._db.execute("INSERT OR IGNORE INTO replies VALUES (?, ?, ?, ?)", (realm, request_id, status, body))

    def reset(self, realm: str | None = None) -> None:
        """Forget the records and requestid answers of `realm` (of every realm when None)."""
        with self._lock, self._db:
            self.version += 1
            if realm is None:
                self._records.clear()
                self._deleted.clear()
                self._names.clear()
                self._db.execute("DELETE FROM records")
                self._db.execute("DELETE FROM replies")
                return
            self._records.pop(realm, None)
            self._deleted.pop(realm, None)
            for key in [key for key in self._names if key[0] == realm]:
                del self._names[key]
            self._db.execute("DELETE FROM records WHERE realm = ?", (realm,))
            self._db.execute("DELETE FROM replies WHERE realm = ?", (realm,))
