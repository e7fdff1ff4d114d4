"""Batch writes: up to 30 records in one call, each record's outcome read from the answer by its bId.

Creates and sparse updates (`write`) are sent in chunks and retried by the call's rules; a stale
SyncToken (5010) is re-read and the update tried once more. `send_once` is for invoices: one batch
with the caller's requestid, never re-sent here (the sync rules decide what an unknown outcome means).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from quickbooks.mixins import DecimalEncoder

from qb_pipeline.core import defaults
from qb_pipeline.core.errors import QuickBooksAuthError, QuickBooksError
from qb_pipeline.core.port import WriteOutcome
from qb_pipeline.quickbooks.retry import QuickBooksCalls, fault_text

STALE_SYNC_TOKEN = "5010"


class BatchWriter:
    def __init__(self, calls: QuickBooksCalls, batch_size: int = defaults.BATCH_SIZE) -> None:
        self.calls, self.batch_size = calls, min(batch_size, defaults.QBO_BATCH_LIMIT)

    def write(self, entity: str, operation: str, records: Sequence[tuple[str, dict]]) -> list[WriteOutcome]:
        """Records (key, body) created or updated, `batch_size` a call; per-record outcomes in input order.
        A chunk whose call failed fails its records (transient when trying later may help); a refused
        connection stops here, since every later call would fail too."""
        outcomes: list[WriteOutcome] = []
        for start in range(0, len(records), self.batch_size):
            chunk = records[start : start + self.batch_size]
            try:
                answer = self._send_chunk(entity, operation, chunk)
            except QuickBooksAuthError:
                raise  # every later call would fail too: stop, and the caller's records stay unclaimed
            except QuickBooksError as error:
                outcomes += [_failed(key, error) for key, _body in chunk]
                continue
            outcomes += batch_outcomes(entity, answer, {str(n): key for n, (key, _body) in enumerate(chunk)})
            done = f"({start + len(chunk)}/{len(records)})"
            self.calls.progress(f"{entity}: {operation} batch of {len(chunk)} done {done}")
        return outcomes

    def update(self, entity: str, records: Sequence[tuple[str, dict]]) -> list[WriteOutcome]:
        """Sparse updates; one whose SyncToken was stale is tried once more with the current one."""
        outcomes = self.write(entity, "update", records)
        bodies = dict(records)
        return [
            self._with_current_sync_token(entity, outcome.key, bodies[outcome.key])
            if outcome.error_code == STALE_SYNC_TOKEN
            else outcome
            for outcome in outcomes
        ]

    def send_once(self, entity: str, items: Sequence[tuple[str, str, dict]], request_id: str) -> list[WriteOutcome]:
        """One batch of creates (key, bId, body) sent once with `request_id`; never re-sent here.

        Raises QuickBooksOutcomeUnknown when QuickBooks may have applied it without our knowing.
        """
        payload = _payload("create", entity, [(bid, body) for _key, bid, body in items])
        answer = self.calls.call(
            "batch",
            f"create {len(items)} {entity} records",
            lambda qb: qb.post(f"{qb.api_url}/company/{qb.company_id}/batch", payload, request_id=request_id),
            expect="BatchItemResponse",
            resend_unknown=False,
        )
        return batch_outcomes(entity, answer, {bid: key for key, bid, _body in items})

    def _send_chunk(self, entity: str, operation: str, chunk: Sequence[tuple[str, dict]]) -> dict:
        payload = _payload(operation, entity, [(str(n), body) for n, (_key, body) in enumerate(chunk)])  # bId ≤ 10
        return self.calls.call(
            "batch",
            f"{operation} {len(chunk)} {entity} records",
            lambda qb: qb.batch_operation(payload),
            expect="BatchItemResponse",
        )

    def _with_current_sync_token(self, entity: str, key: str, body: dict) -> WriteOutcome:
        try:
            current = self.calls.call(
                "read",
                f"re-reading {entity} {body['Id']}",
                lambda qb: qb.get_single_object(entity, body["Id"]),
                expect=entity,
            )[entity]
            return self.write(entity, "update", [(key, {**body, "SyncToken": current["SyncToken"]})])[0]
        except QuickBooksError as error:
            return _failed(key, error)


def batch_outcomes(entity: str, answer: dict, key_by_bid: dict[str, str]) -> list[WriteOutcome]:
    """Each record's outcome, in the order of `key_by_bid`: the saved record, QuickBooks' refusal, or
    (no answer for it) a transient failure."""
    answered = {item.get("bId"): item for item in answer.get("BatchItemResponse", [])}
    return [_outcome(entity, key, answered.get(bid)) for bid, key in key_by_bid.items()]


def _outcome(entity: str, key: str, item: dict | None) -> WriteOutcome:
    if item is None:
        return WriteOutcome(key, error_message="no answer for this record in the batch", transient=True)
    if "Fault" in item:
        error = (item["Fault"].get("Error") or [{}])[0]
        return WriteOutcome(
            key,
            error_code=str(error.get("code", "")),
            error_message=fault_text(error.get("Message"), error.get("Detail")),
        )
    return WriteOutcome(key, record=item[entity])


def _payload(operation: str, entity: str, bodies: Sequence[tuple[str, dict]]) -> str:
    request = {"BatchItemRequest": [{"bId": bid, "operation": operation, entity: body} for bid, body in bodies]}
    return json.dumps(request, cls=DecimalEncoder)


def _failed(key: str, error: QuickBooksError) -> WriteOutcome:
    return WriteOutcome(key, error_message=str(error), transient=error.transient)
