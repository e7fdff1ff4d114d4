"""What one run asked of QuickBooks: the numbers the assets report as metadata."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class CallStats:
    calls: Counter = field(default_factory=Counter)  # by kind: query, batch, cdc, create, token…
    retries: int = 0
    refreshes: int = 0
    unsaved_refreshes: int = 0  # refreshes whose new tokens could not be saved (kept in memory)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, kind: str) -> None:
        with self._lock:
            self.calls[kind] += 1

    def retried(self) -> None:
        with self._lock:
            self.retries += 1

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    def snapshot(self) -> tuple[int, int]:
        """(calls, retries) so far: what `as_metadata(since=…)` counts from."""
        return self.total_calls, self.retries

    def as_metadata(self, since: tuple[int, int] = (0, 0)) -> dict[str, int]:
        return {"api_calls": int(self.total_calls - since[0]), "retries": int(self.retries - since[1])}
