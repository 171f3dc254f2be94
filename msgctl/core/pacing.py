"""--rate: workers share one schedule of batch start times."""

from __future__ import annotations

import threading
import time


class Pacer:
    def __init__(self, rate: float | None, stop: threading.Event) -> None:
        self.rate, self.stop = rate, stop
        self._lock = threading.Lock()
        self._next_start = time.monotonic()

    def wait(self, count: int) -> None:
        """Wait until ``count`` more messages fit the rate (or the run stops); no wait without a rate."""
        if not self.rate:
            return
        with self._lock:
            start = max(self._next_start, time.monotonic())
            self._next_start = start + count / self.rate
        self.stop.wait(max(0.0, start - time.monotonic()))
