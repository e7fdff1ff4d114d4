"""Webhooks out: change notifications POSTed to a URL, signed like Intuit's.

Every create, update, delete, void and merge done through the API or the control API (seeding
included; a sparse update of Preferences is an Update of Preferences, as Intuit sends) becomes one
event. Events are batched over a short window (`webhook_batch_ms`), at most MAX_EVENTS_PER_DELIVERY
per POST, and a delivery answered with anything but 200 (or not answered) is retried with back-off
(0.25 s doubling, at most 30 s between tries) up to MAX_ATTEMPTS times, then dropped and counted in
`GET /_sandbox/webhooks` ("dropped"), as Intuit also gives up. Header `intuit-signature` =
base64(HMAC-SHA256(verifier token, raw body)). Formats: the CloudEvents array (Intuit's current one,
the default) or the legacy `eventNotifications` payload. Events carry ids only; a receiver fetches the
records (CDC or a query). A merge (`POST /_sandbox/merge`, standing in for QuickBooks' UI) is one
event for the surviving record, naming the merged-away one as Intuit's webhook docs show it:
CloudEvents `"data": {"deletedid": "27"}`, legacy `"operation": "Merge", "deletedId": "27"`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import queue
import threading
import time
import urllib.error
import urllib.request
import uuid

from qb_pipeline.sandbox.store import qbo_time

FORMATS = ("cloudevents", "legacy")
MAX_EVENTS_PER_DELIVERY = 1000
# Tries per delivery: about 3 minutes of back-off (5 when no try is answered within its 10 s), then dropped.
MAX_ATTEMPTS = 12
# What the sandbox changes and QBO notifies of (Preferences: Update only, as in Intuit's list).
ENTITIES = {"Customer", "Item", "Invoice", "Payment", "CreditMemo", "Account", "Preferences"}
LEGACY_OPERATIONS = {"created": "Create", "updated": "Update", "deleted": "Delete", "voided": "Void", "merged": "Merge"}


def sign(verifier_token: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(verifier_token.encode(), body, hashlib.sha256).digest()).decode()


class WebhookEmitter:
    def __init__(self, realm: str, verifier_token: str) -> None:
        self.realm, self.verifier_token = realm, verifier_token
        self.url: str | None = None
        self.format = "cloudevents"
        self.batch_ms = 500
        self.stats = {"events": 0, "deliveries": 0, "failed_attempts": 0, "dropped": 0}
        self._queue: queue.Queue[dict] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def configure(self, *, url: str | None = None, format: str | None = None, batch_ms: int | None = None) -> None:
        if format is not None and format not in FORMATS:
            raise ValueError(f"webhook_format must be one of {', '.join(FORMATS)} (got {format!r})")
        if url is not None:
            self.url = url or None  # "" switches notifications off
        if format is not None:
            self.format = format
        if batch_ms is not None:
            self.batch_ms = max(0, int(batch_ms))

    def reset(self) -> None:
        """Counters back to zero and undelivered events dropped (the sandbox's reset)."""
        with self._lock:
            self.stats = dict.fromkeys(self.stats, 0)
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                return

    def settings(self) -> dict:
        return {"webhook_url": self.url or "", "webhook_format": self.format, "webhook_batch_ms": self.batch_ms}

    # -- events --------------------------------------------------------------------------------------
    def notify(self, realm: str, entity: str, operation: str, record: dict) -> None:
        """Store listener: one change of one record (operation: created, updated, deleted, voided, merged).
        For `merged` the record is the surviving one's notice and carries `deletedId`, the merged-away id."""
        if not self.url or entity not in ENTITIES or realm != self.realm:
            return
        when = (record.get("MetaData") or {}).get("LastUpdatedTime") or qbo_time()
        event = {"entity": entity, "id": str(record["Id"]), "operation": operation, "time": when}
        if record.get("deletedId") is not None:
            event["deleted_id"] = str(record["deletedId"])
        self._queue.put(event)
        with self._lock:
            self.stats["events"] += 1
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._deliver_forever, name="sandbox-webhooks", daemon=True)
                self._thread.start()

    def body(self, events: list[dict]) -> bytes:
        if self.format == "legacy":
            payload: object = {
                "eventNotifications": [
                    {
                        "realmId": self.realm,
                        "dataChangeEvent": {
                            "entities": [
                                {
                                    "name": e["entity"],
                                    "id": e["id"],
                                    "operation": LEGACY_OPERATIONS[e["operation"]],
                                    "lastUpdated": e["time"],
                                    **({"deletedId": e["deleted_id"]} if "deleted_id" in e else {}),
                                }
                                for e in events
                            ]
                        },
                    }
                ]
            }
        else:
            payload = [
                {
                    "specversion": "1.0",
                    "id": str(uuid.uuid4()),
                    "source": "intuit.sandbox",
                    "type": f"qbo.{e['entity'].lower()}.{e['operation']}.v1",
                    "datacontenttype": "application/json",
                    "time": e["time"],
                    "intuitentityid": e["id"],
                    "intuitaccountid": self.realm,
                    "data": {"deletedid": e["deleted_id"]} if "deleted_id" in e else {},
                }
                for e in events
            ]
        return json.dumps(payload).encode()

    # -- delivery ------------------------------------------------------------------------------------
    def _deliver_forever(self) -> None:
        while True:
            events = [self._queue.get()]
            time.sleep(self.batch_ms / 1000)  # what else changes in this window goes in the same delivery
            while len(events) < MAX_EVENTS_PER_DELIVERY:
                try:
                    events.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._deliver(self.body(events))

    def _deliver(self, body: bytes) -> None:
        for attempt in range(MAX_ATTEMPTS):
            url = self.url
            if not url:
                return
            request = urllib.request.Request(
                url,
                data=body,
                method="POST",
                headers={
                    "Content-Type": "application/json",
                    "intuit-signature": sign(self.verifier_token, body),
                    "User-Agent": "qb_pipeline sandbox webhooks",
                },
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as answer:
                    if answer.status == 200:
                        with self._lock:
                            self.stats["deliveries"] += 1
                        return
            except (urllib.error.URLError, OSError):
                pass  # not answered, or answered with an error status: retried
            with self._lock:
                self.stats["failed_attempts"] += 1
            time.sleep(min(30.0, 0.25 * 2**attempt))
        with self._lock:
            self.stats["dropped"] += 1
