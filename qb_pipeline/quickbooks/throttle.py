"""Client-side throttle: keep one realm under QBO's limits instead of collecting 429s.

QBO allows 500 requests/minute and 10/second per realm, 40 batch calls/minute, and 10 requests at
once. We aim a little under each (sliding windows, a semaphore) and wait until a call fits. A run has one throttle, shared by all its
assets and checks (QuickBooksResource), and runs against one realm never overlap (the `quickbooks`
pool and the realm tag in dagster.yaml), so one throttle speaks for the realm.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

# Margins absorb the difference between when we send and when QBO counts (network jitter).
DEFAULT_LIMITS = {"second": 8, "minute": 480, "batch_minute": 38, "concurrent": 9}


class Throttle:
    def __init__(
        self,
        limits: dict[str, int] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.limits = limits or dict(DEFAULT_LIMITS)
        self.clock, self.sleep = clock, sleep
        self._lock = threading.Lock()
        self._windows: dict[str, deque[float]] = {name: deque() for name in self.limits}
        self._in_flight = threading.BoundedSemaphore(self.limits.get("concurrent", DEFAULT_LIMITS["concurrent"]))
        self.waits, self.seconds_waited = 0, 0.0

    @contextmanager
    def slot(self, *, is_batch: bool = False) -> Iterator[None]:
        """Hold one of the calls that may be in flight at once, from its rate slot until it is answered."""
        with self._in_flight:
            self.acquire(is_batch=is_batch)
            yield

    def acquire(self, *, is_batch: bool = False) -> float:
        """Block until one call (a batch call when `is_batch`) fits; returns the seconds waited."""
        names = ["second", "minute"] + (["batch_minute"] if is_batch else [])
        waited = 0.0
        while True:
            with self._lock:
                now = self.clock()
                delay = 0.0
                for name in names:
                    span = 1.0 if name == "second" else 60.0
                    calls = self._windows[name]
                    while calls and calls[0] <= now - span:
                        calls.popleft()
                    if len(calls) >= self.limits[name]:
                        delay = max(delay, calls[0] + span - now)
                if delay <= 0:
                    for name in names:
                        self._windows[name].append(now)
                    if waited:
                        self.waits += 1
                        self.seconds_waited += waited
                    return waited
            self.sleep(delay)
            waited += delay
