"""The QuickBooks Online v3 data API: /v3/company/{realm}/… (read, write, query, batch, CDC).

A raw ASGI app rather than starlette routes, so that injected faults can do what a real network
does (hold an answer past the client's timeout after the write happened, break a connection
mid-response). Every call: fault injection → latency → bearer token → rate limit → requestid
replay → the operation.

Minor versions (Intuit, from 2025-08-01: docs/qbo-api.md §10): every call is served as minor version 75,
whatever `minorversion` it sends — a value below 75 is ignored, none means 75; nothing is refused for it.
What each call sent is counted (`minor_versions`, by the value as sent, "none" when absent) so a test
can see a client that leaves it out, which real QuickBooks would not tell it.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs

from qb_pipeline.sandbox.company import (
    CDC_ENTITIES,
    PREFERENCES_ID,
    QUERY_ENTITIES,
    merge_preferences,
)
from qb_pipeline.sandbox.entities import DELETABLE, WRITABLE, Rules
from qb_pipeline.sandbox.faults import FaultInjector
from qb_pipeline.sandbox.limits import RateLimiter
from qb_pipeline.sandbox.oauth import OAuthServer
from qb_pipeline.sandbox.query import QueryError, parse_query
from qb_pipeline.sandbox.query_rows import matching, page_of
from qb_pipeline.sandbox.reports import report
from qb_pipeline.sandbox.store import COMPANY_TZ, Store, dumps, qbo_time
from qb_pipeline.sandbox.validation import Fault, not_found, not_this_company
from qb_pipeline.sandbox.wire import answer, auth_fault, fault_response, json_body, kind_of, realm_in, rows_in

ENTITY_BY_PATH = {name.lower(): name for name in QUERY_ENTITIES}
MAX_BATCH_ITEMS = 30
CDC_MAX_OBJECTS = 1000
CDC_MAX_AGE = timedelta(days=30)
NO_MINOR_VERSION = "none"
_SPACE_OFFSET = re.compile(r"\d \d{2}(:?\d{2})?$")  # "…T10:00:00 05:30": an offset whose "+" became a space


class DataApi:
    def __init__(self, store: Store, oauth: OAuthServer, limiter: RateLimiter, faults: FaultInjector) -> None:
        self.store, self.rules, self.oauth, self.limiter, self.faults = store, Rules(store), oauth, limiter, faults
        self.latency_ms = 0
        self.latency_per_row_ms = 0.0
        self.requestid_replay = True  # a switch, so tests can see what happens in a company where it fails
        self.counters: Counter[str] = Counter()
        self.minor_versions: Counter[str] = Counter()  # the `minorversion` each call sent ("none": absent)
        self._answers: dict[tuple, list[dict]] = {}  # query → every matching row, for the store version
        self._answers_version = -1

    def clear_counters(self) -> None:
        self.counters.clear()
        self.minor_versions.clear()

    async def __call__(self, scope, receive, send) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        path = scope["path"]
        path = path[3:] if path.startswith("/v3") else path
        params = {k: v[-1] for k, v in parse_qs(scope.get("query_string", b"").decode()).items()}
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        kind = kind_of(scope["method"], path, params)
        self.minor_versions[params.get("minorversion", NO_MINOR_VERSION)] += 1  # served as 75 whatever it is
        realm = realm_in(path)
        late = self.faults.next_fault(scope["path"], arriving=True)
        if late:
            await asyncio.sleep(late.seconds)  # still on its way: not yet counted, in flight or against the rates
        ticket = self.limiter.enter(realm) if realm is not None else None
        if realm is not None and ticket is None:
            # QuickBooks' concurrency rule: one request too many in flight is throttled like the rates.
            self.counters[f"{kind} 429"] += 1
            status, payload, extra = fault_response("429")
            if self.limiter.send_retry_after:
                extra["retry-after"] = "1"
            await answer(send, status, payload, extra)
            return
        try:
            await self._serve(scope, send, path, params, headers, body, kind)
        finally:
            if realm is not None:
                self.limiter.leave(realm, ticket)

    async def _serve(self, scope, send, path: str, params: dict, headers: dict, body: bytes, kind: str) -> None:
        fault = self.faults.next_fault(scope["path"])
        if fault and fault.kind == "drop":
            self.counters[f"{kind} dropped"] += 1
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")],
                }
            )
            await send({"type": "http.response.body", "body": b'{"QueryResponse": {', "more_body": True})
            raise ConnectionAbortedError("sandbox fault: connection dropped mid-response")
        if fault and fault.kind == "revoke":
            self.oauth.revoke_all(realm_in(path))  # the company's tokens: Intuit revokes per connection
        if fault and fault.kind not in ("timeout", "revoke"):
            status, payload, extra = fault_response(fault.kind)
        else:
            status, payload, extra = self._handle(scope["method"], path, params, headers, body)
        # A base cost per call plus a cost per returned row: a 1,000-row page costs what it does at Intuit.
        latency = self.latency_ms + self.latency_per_row_ms * rows_in(payload)
        if latency:
            await asyncio.sleep(latency / 1000)
        if fault and fault.kind == "timeout":
            await asyncio.sleep(fault.seconds)  # the write above happened; the answer comes too late
        self.counters[f"{kind} {status}"] += 1
        await answer(send, status, payload, extra)

    # -- dispatch --------------------------------------------------------------------------------
    def _handle(self, method: str, path: str, params: dict, headers: dict, body: bytes):
        parts = [p for p in path.split("/") if p]
        if len(parts) < 3 or parts[0] != "company":
            return 404, {"Fault": {"Error": [{"Message": "Not found", "code": "404"}]}, "time": qbo_time()}, {}
        realm, resource, rest = parts[1], parts[2].lower(), parts[3:]
        refused = self._refused(realm, headers)
        if refused is not None:
            return 401, refused, {}
        wait = self.limiter.check(realm, is_batch=resource == "batch")
        if wait is not None:
            status, payload, extra = fault_response("429")
            if self.limiter.send_retry_after:
                extra["retry-after"] = str(max(1, round(wait + 0.5)))
            return status, payload, extra
        request_id = params.get("requestid") if method == "POST" and self.requestid_replay else None
        if request_id:
            replay = self.store.reply_for(realm, request_id)
            if replay:
                return replay[0], replay[1].encode(), {}
        try:
            status, payload = 200, self._operation(method, realm, resource, rest, params, body)
        except Fault as fault:
            status, payload = fault.status, fault.body()
        except QueryError as error:
            status, payload = 400, Fault(error.code, error.message, error.detail).body()
        if request_id:
            self.store.remember_reply(realm, request_id, status, dumps(payload))
        return status, payload, {}

    def _refused(self, realm: str, headers: dict) -> dict | None:
        """The 401 fault when the call's token is not a valid one of this company, else None."""
        token_realm = self.oauth.authenticate(headers.get("authorization"))
        if token_realm is None:
            return auth_fault()
        return not_this_company().body() if token_realm != realm else None  # a token of another company

    def _operation(self, method, realm, resource, rest, params, body) -> dict:
        if resource == "query":
            text = params.get("query") if method == "GET" else body.decode()
            return {"QueryResponse": self._query(realm, text or ""), "time": qbo_time()}
        if resource == "batch" and method == "POST":
            return self._batch(realm, json_body(body))
        if resource == "cdc" and method == "GET":
            return self._cdc(realm, params)
        if resource == "reports" and method == "GET" and len(rest) == 1:  # a read like any other (metered)
            return report(self.store, realm, rest[0], params)
        if resource == "preferences" and not rest:
            return {"Preferences": self._preferences(realm, method, body), "time": qbo_time()}
        entity = ENTITY_BY_PATH.get(resource)
        if entity is None:
            raise Fault(
                "500", "Unsupported Operation", f"Operation on {resource} is not supported", fault_type="SystemFault"
            )
        if method == "GET" and len(rest) == 1:
            record = self.store.get(realm, entity, int(rest[0])) if rest[0].isdigit() else None
            if record is None:
                raise not_found(entity, rest[0])
            return {entity: record, "time": qbo_time()}
        if method == "POST" and not rest:
            return {**self._write(realm, entity, params.get("operation"), json_body(body), params), "time": qbo_time()}
        raise Fault("500", "Unsupported Operation", f"{method} {resource} is not supported", fault_type="SystemFault")

    def _write(self, realm, entity, operation, record: dict, params) -> dict:
        include = params.get("include", "")
        if operation == "update" and "void" in include:  # how QuickBooks voids a payment
            operation = "void"
        if operation in ("delete", "void"):
            if entity not in DELETABLE:
                raise Fault(
                    "6000",
                    "A business validation error has occurred",
                    f"{entity} cannot be deleted; make it inactive (Active=false)",
                )
            action = self.rules.delete if operation == "delete" else self.rules.void
            return {entity: action(realm, entity, record)}
        return {
            entity: self.rules.save(realm, entity, record, allow_duplicate_docnum="allowduplicatedocnum" in include)
        }

    def _preferences(self, realm: str, method: str, body: bytes) -> dict:
        """One object per company, no id in the URL; POST is a sparse update of its writable blocks."""
        current = self.store.get(realm, "Preferences", PREFERENCES_ID)
        if method == "GET":
            return current
        update = json_body(body)
        if update.get("SyncToken") not in (None, "") and str(update["SyncToken"]) != current["SyncToken"]:
            raise Fault(
                "5010",
                "Stale Object Error",
                f"Stale Object Error : SyncToken {update['SyncToken']} is not {current['SyncToken']}",
            )
        record = merge_preferences(current, update)
        record.update(
            SyncToken=str(int(current["SyncToken"]) + 1),
            MetaData={**current["MetaData"], "LastUpdatedTime": qbo_time()},
        )
        self.store.put(realm, "Preferences", record)
        self.store.notify(realm, "Preferences", "updated", [record])  # Intuit notifies Preferences: Update
        return record

    def _query(self, realm: str, text: str) -> dict:
        query = parse_query(text)
        # Paging a large list asks the same question page after page: answer it once per store version,
        # so page n costs a slice, not a scan of everything before it (QuickBooks pages by index too).
        key = (realm, query.entity, repr(query.conditions), query.order_by)
        if self._answers_version != self.store.version:
            self._answers, self._answers_version = {}, self.store.version
        if key not in self._answers:
            while len(self._answers) >= 8:
                self._answers.pop(next(iter(self._answers)))
            self._answers[key] = matching(query, self.store.all(realm, query.entity))
        result = page_of(query, self._answers[key])
        if query.count:
            return {"totalCount": result.total}
        if not result.rows:
            return {}
        return {query.entity: result.rows, "startPosition": result.start_position, "maxResults": len(result.rows)}

    def _batch(self, realm: str, request: dict) -> dict:
        items = request.get("BatchItemRequest") or []
        if len(items) > MAX_BATCH_ITEMS:
            raise Fault(
                "2050",
                "Batch request too large",
                f"A batch may hold at most {MAX_BATCH_ITEMS} items; this one has {len(items)}",
            )
        answers = []
        for item in items:
            answer = {"bId": item.get("bId")}
            try:
                if "Query" in item:
                    answer["QueryResponse"] = self._query(realm, item["Query"])
                else:
                    entity = next((k for k in item if k in WRITABLE), None)
                    if entity is None:
                        raise Fault("2020", "Required param missing", "batch item names no entity")
                    operation = item.get("operation", "create")
                    body = dict(item[entity])
                    if operation == "create":
                        body.pop("Id", None)
                    answer.update(self._write(realm, entity, "delete" if operation == "delete" else None, body, {}))
            except Fault as fault:
                answer["Fault"] = fault.body()["Fault"]
            except QueryError as error:
                answer["Fault"] = Fault(error.code, error.message, error.detail).body()["Fault"]
            answers.append(answer)
        return {"BatchItemResponse": answers, "time": qbo_time()}

    def _cdc(self, realm: str, params: dict) -> dict:
        since = _parse_since(params.get("changedSince", ""))
        if datetime.now(timezone.utc) - since > CDC_MAX_AGE:
            raise Fault("2050", "Invalid changedSince", "changedSince must be within the last 30 days")
        responses = []
        budget = CDC_MAX_OBJECTS
        for name in [e.strip() for e in params.get("entities", "").split(",") if e.strip()]:
            entity = ENTITY_BY_PATH.get(name.lower())
            if entity not in CDC_ENTITIES:
                raise Fault("2050", "Invalid entity", f"CDC does not support {name!r}")
            changed = [r for r in self.store.all(realm, entity) if _updated(r) >= since]
            changed.sort(key=_updated)
            deleted = [r for r in self.store.deleted(realm, entity) if _updated(r) >= since]
            objects = (changed + deleted)[:budget]
            budget -= len(objects)
            if objects:
                responses.append(
                    {entity: objects, "startPosition": 1, "maxResults": len(objects), "totalCount": len(objects)}
                )
        return {"CDCResponse": [{"QueryResponse": responses or [{}]}], "time": qbo_time()}


def _updated(record: dict) -> datetime:
    return datetime.fromisoformat(record["MetaData"]["LastUpdatedTime"])


def _parse_since(text: str) -> datetime:
    if _SPACE_OFFSET.search(text):
        # A "+" left unencoded in a query string decodes to a space, so the date no longer parses (QBO
        # was reported to answer "Unparseable date" to an unencoded "+" in a date filter). node-quickbooks
        # sends changedSince so east of UTC; repairing it here would hide that from a client's tests.
        raise Fault(
            "2050",
            "Invalid changedSince",
            f"changedSince {text!r} is not a date-time: a '+' in a "
            "query string means a space, so the offset's plus sign must be sent as %2B",
        )
    try:
        since = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise Fault("2050", "Invalid changedSince", f"changedSince {text!r} is not a date-time") from None
    # No offset (python-quickbooks' own format): the company's local time, as QBO reads it.
    return since if since.tzinfo else since.replace(tzinfo=COMPANY_TZ)
