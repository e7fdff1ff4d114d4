"""QuickBooks Online's rate limits, per realm: 500 requests/minute, 10/second, 40 batch calls/minute.

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


class RateLimiter:
    def __init__(self, mode: str = "off", *, send_retry_after: bool = True, clock=time.monotonic) -> None:
        self.send_retry_after, self.clock = send_retry_after, clock
        self._lock = threading.Lock()
        self._calls: dict[tuple[str, str], deque[float]] = {}
        self.set_mode(mode)

    def set_mode(self, mode: str) -> None:
        if mode == "off":
            self.rates = None
        elif mode == "real":
            self.rates = dict(REAL_RATES)
        elif mode.startswith("scaled:"):
            factor = float(mode.split(":", 1)[1])
            if factor <= 0:
                raise ValueError("scaled:F needs F > 0")
            self.rates = {k: max(1, math.floor(v * factor)) for k, v in REAL_RATES.items()}
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
