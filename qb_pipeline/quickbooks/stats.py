"""What one run asked of QuickBooks: the numbers the assets report as metadata, and the calls still to be
added to the company's daily counts (db/api_calls.py)."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field

# The kinds of call Intuit meters ("CorePlus", data out: docs/qbo-api.md §15). Creates, updates and
# batches of them are data in, not metered; token calls go to the OAuth server, not the API.
READ_KINDS = frozenset({"query", "cdc", "read", "report"})
WRITE_KINDS = frozenset({"create", "update", "batch"})


@dataclass
class CallStats:
    calls: Counter = field(default_factory=Counter)  # by kind: query, batch, cdc, create, token…
    retries: int = 0
    refreshes: int = 0
    unsaved_refreshes: int = 0  # refreshes whose new tokens could not be saved (kept in memory)
    _unrecorded: Counter = field(default_factory=Counter, repr=False)  # "read"/"write" not yet counted per day
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, kind: str) -> None:
        with self._lock:
            self.calls[kind] += 1
            if kind in READ_KINDS:
                self._unrecorded["read"] += 1
            elif kind in WRITE_KINDS:
                self._unrecorded["write"] += 1

    def retried(self) -> None:
        with self._lock:
            self.retries += 1

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    @property
    def reads(self) -> int:
        return sum(n for kind, n in self.calls.items() if kind in READ_KINDS)

    @property
    def writes(self) -> int:
        return sum(n for kind, n in self.calls.items() if kind in WRITE_KINDS)

    def take_unrecorded(self) -> tuple[int, int]:
        """(reads, writes) made since the last take: what the caller now adds to the daily counts."""
        with self._lock:
            taken = (self._unrecorded["read"], self._unrecorded["write"])
            self._unrecorded.clear()
        return taken

    def snapshot(self) -> tuple[int, int]:
        """(calls, retries) so far: what `as_metadata(since=…)` counts from."""
        return self.total_calls, self.retries

    def as_metadata(self, since: tuple[int, int] = (0, 0)) -> dict[str, int]:
        return {"api_calls": int(self.total_calls - since[0]), "retries": int(self.retries - since[1])}
