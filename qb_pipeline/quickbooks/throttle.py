"""Client-side throttle: keep one realm under QBO's limits instead of collecting 429s.

QBO allows 500 requests/minute and 10/second per realm, 40 batch calls/minute, and 10 requests at
once. The rates are counted when we send and by QBO when a call arrives, so we aim a little under
them (sliding windows) and wait until a call fits. Requests in flight we can count exactly, so we use
all 10, holding a slot until QBO is done with its request: until the answer, or, for a request we
stopped waiting for, until QBO gives up on it too. A 429 that comes while every slot is taken costs
a slot for the rest of the run, in case QBO counts a request we do not. A run has one throttle per company,
shared by all its assets and checks (QuickBooksResource), and runs of one company never overlap (its
realm and partition tags, limited in dagster.yaml), so one throttle speaks for the realm.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import requests

from qb_pipeline.core import defaults
from qb_pipeline.core.errors import QuickBooksThrottled

DEFAULT_LIMITS = {"second": 10, "minute": 480, "batch_minute": 38, "concurrent": 10}
# The windows we count each rate over. QBO's 10 a second are counted over 1.2 s: any 11 calls of ours span
# at least 1.2 s, so QBO sees them within one second only if the network delays one by 0.2 s more than
# another. A burst of 10 where the last 1.2 s were quiet (a list's first pages), 8.3 a second at most.
SPANS = {"second": 1.2, "minute": 60.0, "batch_minute": 60.0}


class Throttle:
    """`clock` and `sleep` stand in for time in the rate windows; waiting for a slot is in real time."""

    def __init__(
        self,
        limits: dict[str, int] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        abandoned_hold_seconds: float = defaults.REQUEST_LIMIT_SECONDS,
    ) -> None:
        self.limits = limits or dict(DEFAULT_LIMITS)
        self.clock, self.sleep = clock, sleep
        self._lock = threading.Lock()
        self._windows: dict[str, deque[float]] = {name: deque() for name in self.limits}
        self.concurrent = self.limits.get("concurrent", DEFAULT_LIMITS["concurrent"])
        self.abandoned_hold_seconds = abandoned_hold_seconds
        self._slots = threading.Condition()
        self._busy = 0
        self._abandoned_until: list[float] = []  # a heap: when QBO is done with requests we gave up on
        self.waits, self.seconds_waited = 0, 0.0

    @contextmanager
    def slot(self, *, is_batch: bool = False) -> Iterator[None]:
        """Hold one of the requests that may be in flight at once, from its rate slot until QBO is done
        with it: when its answer arrives or, after a read timeout, when QBO gives up on it too."""
        self._take_slot()
        try:
            self.acquire(is_batch=is_batch)
            sent = self.clock()
            yield
        except requests.ReadTimeout:  # sent, and perhaps still running there
            self._give_back(until=sent + self.abandoned_hold_seconds)
            raise
        except QuickBooksThrottled:
            self._give_back(throttled=True)
            raise
        except BaseException:
            self._give_back()
            raise
        else:
            self._give_back()

    def _take_slot(self) -> None:
        started = time.monotonic()
        with self._slots:
            while True:
                now = self.clock()
                while self._abandoned_until and self._abandoned_until[0] <= now:
                    heapq.heappop(self._abandoned_until)
                if self._taken() < self.concurrent:
                    self._busy += 1
                    break
                self._slots.wait(self._abandoned_until[0] - now if self._abandoned_until else None)
        waited = time.monotonic() - started
        if waited > 0.001:
            with self._lock:
                self.waits += 1
                self.seconds_waited += waited

    def _give_back(self, *, until: float | None = None, throttled: bool = False) -> None:
        with self._slots:
            if throttled and self._taken() >= self.concurrent:
                # QBO said too many while we held all we allow: it counts one we do not (say, another
                # app's). One fewer from now on, so a miscount costs one 429, not one for every page.
                self.concurrent = max(1, self.concurrent - 1)
            self._busy -= 1
            if until is not None:
                heapq.heappush(self._abandoned_until, until)
            self._slots.notify_all()

    def _taken(self) -> int:
        return self._busy + len(self._abandoned_until)

    def acquire(self, *, is_batch: bool = False) -> float:
        """Block until one call (a batch call when `is_batch`) fits; returns the seconds waited."""
        names = ["second", "minute"] + (["batch_minute"] if is_batch else [])
        waited = 0.0
        while True:
            with self._lock:
                now = self.clock()
                delay = 0.0
                for name in names:
                    span = SPANS[name]
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
