"""Progress of a long operation, reported to the caller's callback (the CLI draws it as a bar)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class ProgressEvent:
    label: str  # what moves where, e.g. "sqs:orders-dlq -> sqs:orders"
    done: int
    total: int | None


OnProgress = Callable[[ProgressEvent], None]


class ProgressCounter:
    """Counts what is done (from any worker thread) and tells ``on_progress`` after each step."""

    def __init__(self, on_progress: OnProgress | None, label: str, total: int | None) -> None:
        self.on_progress, self.label, self.total = on_progress, label, total
        self.done = 0
        self._lock = threading.Lock()

    def advance(self, count: int) -> None:
        with self._lock:
            self.done += count
            done = self.done
        self._tell(done)

    def update(self, done: int, total: int | None) -> None:
        with self._lock:
            self.done, self.total = done, total
        self._tell(done)

    def _tell(self, done: int) -> None:
        if self.on_progress is not None:
            self.on_progress(ProgressEvent(self.label, done, self.total))
