"""Faults on demand, for drills and tests: what a flaky QuickBooks does to a client.

Kinds: `500`, `503` (QBO-style JSON fault), `429` (JSON throttle fault), `429-xml` (a non-JSON 429 as
seen in the wild), `timeout` (the request IS processed, then the answer is held for `seconds`: the
client times out not knowing whether its write happened — the hardest case), `drop` (the connection
breaks mid-response), `non-json` (200 with an HTML page), `truncated` (200 whose JSON stops half-way),
`missing-fields` (200 with valid JSON holding none of the expected keys), `revoke` (every token
revoked, then the call proceeds and gets 401), `late` (an API call reaches QuickBooks `seconds` late,
as over a slow network: its limits count it when it arrives, so calls sent after it may be counted
before it; not for the OAuth endpoints). Injected by count (the next N matching calls) or by rate (a
probability per call, seeded for repeatability), optionally only for paths containing `path_contains`.
The OAuth endpoints (discovery, token, revoke) get faults too, but only ones whose `path_contains`
names them (`OAuthFaults`).
"""

from __future__ import annotations

import asyncio
import random
import threading
from dataclasses import asdict, dataclass

KINDS = {"500", "503", "429", "429-xml", "timeout", "drop", "non-json", "truncated", "missing-fields", "revoke", "late"}


@dataclass
class Injection:
    kind: str
    count: int | None = None
    rate: float | None = None
    path_contains: str | None = None
    seconds: float = 120.0


class FaultInjector:
    def __init__(self, seed: int | None = None) -> None:
        self._lock = threading.Lock()
        self._injections: list[Injection] = []
        self._random = random.Random(seed)
        self.injected: dict[str, int] = {}

    def inject(
        self,
        kind: str,
        *,
        count: int | None = None,
        rate: float | None = None,
        path_contains: str | None = None,
        seconds: float | None = None,
        seed: int | None = None,
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r} (one of {sorted(KINDS)})")
        if (count is None) == (rate is None):
            raise ValueError("give exactly one of count or rate")
        rate = None if rate is None else float(rate)  # the control API reads JSON numbers as Decimal
        seconds = None if seconds is None else float(seconds)
        if rate is not None and not 0 < rate <= 1:
            raise ValueError("rate must be in (0, 1]")
        with self._lock:
            if seed is not None:
                self._random.seed(seed)
            self._injections.append(Injection(kind, count, rate, path_contains, 120.0 if seconds is None else seconds))

    def clear(self) -> None:
        with self._lock:
            self._injections.clear()

    def next_fault(self, path: str, *, named_only: bool = False, arriving: bool = False) -> Injection | None:
        """The fault for a call to `path`, if any. `named_only`: only faults whose path_contains names
        this path (the OAuth endpoints: a fault injected for "every call" means every API call).
        `arriving`: the `late` fault, which strikes before QuickBooks sees the call; the others after."""
        with self._lock:
            for injection in self._injections:
                if (injection.kind == "late") != arriving:
                    continue
                if injection.path_contains and injection.path_contains not in path:
                    continue
                if named_only and not injection.path_contains:
                    continue
                if injection.count is not None:
                    injection.count -= 1
                    if injection.count <= 0:
                        self._injections.remove(injection)
                elif self._random.random() >= injection.rate:
                    continue
                self.injected[injection.kind] = self.injected.get(injection.kind, 0) + 1
                return injection
        return None

    def describe(self) -> list[dict]:
        with self._lock:
            return [asdict(i) for i in self._injections]


class OAuthFaults:
    """ASGI middleware: injected faults at the OAuth endpoints, as a bad network or Intuit would give them.

    `timeout` lets the endpoint do its work (a refresh rotates the token) and holds the answer; `drop`
    breaks the connection mid-answer; the others answer with their status instead of the endpoint.
    """

    def __init__(self, app, faults: FaultInjector, prefixes: tuple[str, ...]) -> None:
        self.app, self.faults, self.prefixes = app, faults, prefixes

    async def __call__(self, scope, receive, send) -> None:
        fault = None
        if scope["type"] == "http" and scope["path"].startswith(self.prefixes):
            fault = self.faults.next_fault(scope["path"], named_only=True)
        if fault is None or fault.kind == "revoke":
            await self.app(scope, receive, send)
            return
        if fault.kind == "timeout":
            held: list[dict] = []

            async def hold(message: dict) -> None:
                held.append(message)

            await self.app(scope, receive, hold)
            await asyncio.sleep(fault.seconds)
            for message in held:
                await send(message)
            return
        if fault.kind == "drop":
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")],
                }
            )
            await send({"type": "http.response.body", "body": b'{"access_token": "', "more_body": True})
            raise ConnectionAbortedError("sandbox fault: connection dropped mid-response")
        status = int(fault.kind[:3]) if fault.kind[:3].isdigit() else 200
        body = b'{"error": "server_error"}' if status != 200 else b"<html><body>Service Unavailable</body></html>"
        content_type = b"application/json" if status != 200 else b"text/html"
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", content_type), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})
