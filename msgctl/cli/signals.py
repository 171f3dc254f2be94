"""SIGTERM handled as Ctrl-C for every command, and (tail) as a request to stop between two receives, so
nothing received is left unreleased."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class StopRequest:
    """The first Ctrl-C or SIGTERM asks to stop at the next safe point; a second one interrupts at once."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1
        if self.count > 1:
            raise KeyboardInterrupt

    def requested(self) -> bool:
        return self.count > 0

    @contextmanager
    def installed(self) -> Iterator[StopRequest]:
        previous = {signum: signal.signal(signum, self) for signum in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)


@contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """SIGTERM stops a command as Ctrl-C does: the library releases what it holds and keeps its journal."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt
