"""QuickBooks Online's rate limits, per realm: 500 requests/minute, 10/second, 40 batch calls/minute,
and at most 10 requests in flight at once (Intuit's older, still-cited concurrency rule).

Sliding windows over the last second and minute. Modes: `off`, `real`, `scaled:F` (every rate × F,
so a short benchmark keeps QBO's shape). A throttled call gets HTTP 429 with QBO's `ThrottleExceeded`
fault; whether real QBO sends `Retry-After` is not documented, so the sandbox sends it unless
`send_retry_after` is off, and clients must cope either way.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque

REAL_RATES = {"second": 10, "minute": 500, "batch_minute": 40}
REAL_CONCURRENCY = 10


class RateLimiter:
    def __init__(self, mode: str = "off", *, send_retry_after: bool = True, clock=time.monotonic) -> None:
        self.send_retry_after, self.clock = send_retry_after, clock
        self._lock = threading.Lock()
        self._calls: dict[tuple[str, str], deque[float]] = {}
        self._in_flight: dict[str, int] = {}
        self._generation = 0
        self.most_in_flight = 0  # the most requests of one realm seen at once (benchmarks report it)
        self.set_mode(mode)

    def set_mode(self, mode: str) -> None:
        if mode == "off":
            self.rates, self.concurrency = None, None
        elif mode == "real":
            self.rates, self.concurrency = dict(REAL_RATES), REAL_CONCURRENCY
        elif mode.startswith("scaled:"):
            factor = float(mode.split(":", 1)[1])
            if factor <= 0:
                raise ValueError("scaled:F needs F > 0")
            self.rates = {k: max(1, math.floor(v * factor)) for k, v in REAL_RATES.items()}
            self.concurrency = max(1, math.floor(REAL_CONCURRENCY * factor))
        else:
            raise ValueError(f"limits must be off, real or scaled:F (got {mode!r})")
        self.mode = mode

    def check(self, realm: str, *, is_batch: bool) -> float | None:
        """None if the call may go ahead (it is counted), else the seconds until it would be allowed."""
        if self.rates is None:
            return None
        now = self.clock()
        windows = [("second", 1.0, self.rates["second"]), ("minute", 60.0, self.rates["minute"])]
        if is_batch:
            windows.append(("batch_minute", 60.0, self.rates["batch_minute"]))
        with self._lock:
            waits = []
            for name, span, limit in windows:
                calls = self._calls.setdefault((realm, name), deque())
                while calls and calls[0] <= now - span:
                    calls.popleft()
                if len(calls) >= limit:
                    waits.append(calls[0] + span - now)
            if waits:
                return max(waits)
            for name, _span, _limit in windows:
                self._calls[(realm, name)].append(now)
        return None

    def forget(self) -> None:
        """A reset company starts with empty windows and nothing in flight: calls made before, even one
        still being answered (an injected timeout), count no more."""
        with self._lock:
            self._calls.clear()
            self._in_flight.clear()
            self._generation += 1
            self.most_in_flight = 0

    def enter(self, realm: str) -> int | None:
        """A request of `realm` starts: None (not counted) when the realm has as many in flight as it may;
        else a ticket for `leave`."""
        with self._lock:
            in_flight = self._in_flight.get(realm, 0)
            if self.concurrency is not None and in_flight >= self.concurrency:
                return None
            self._in_flight[realm] = in_flight + 1
            self.most_in_flight = max(self.most_in_flight, in_flight + 1)
            return self._generation

    def leave(self, realm: str, ticket: int) -> None:
        with self._lock:
            if ticket == self._generation:  # a request from before a reset was forgotten with it
                self._in_flight[realm] -= 1
