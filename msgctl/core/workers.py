"""The worker threads of redrive and replay: each runs its work until it ends or the run stops; the first
error of one stops the others, and Ctrl-C waits for each to finish the batch at hand (so the journal or the
ledger is exact) before it goes on."""

from __future__ import annotations

import threading
import zlib
from collections.abc import Callable, Iterable

from msgctl.core.outbound import OutboundT

WAIT_POLL_S = 0.2  # the waiting thread wakes this often, so Ctrl-C reaches it while workers run


class WorkerPool:
    """Runs tasks, a thread each. A task is to end soon once ``stop`` is set (after the batch at hand)."""

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self.errors: list[BaseException] = []

    def run(self, tasks: Iterable[Callable[[], None]]) -> None:
        """Run the tasks until every one has ended. A task's error sets ``stop`` and is kept for
        ``raise_error``; an interrupt of the waiting thread sets ``stop``, waits for every task, and is
        raised."""
        # Waited for by an Event each, not Thread.join: on Python 3.11 an interrupt inside join(timeout)
        # marks the thread as ended while it still runs, and the next join returns at once.
        started: list[threading.Event] = []
        try:
            for task in tasks:
                ended = threading.Event()
                threading.Thread(target=self._guarded, args=(task, ended), daemon=True).start()
                started.append(ended)
            for ended in started:
                while not ended.wait(WAIT_POLL_S):
                    pass
        except BaseException:
            self.stop.set()  # Ctrl-C: each worker finishes the batch at hand
            for ended in started:
                ended.wait()
            raise

    def raise_error(self) -> None:
        """Raise the first error a task raised, if any."""
        if self.errors:
            raise self.errors[0]

    def _guarded(self, task: Callable[[], None], ended: threading.Event) -> None:
        try:
            task()
        except BaseException as exc:  # stop the others; the caller re-raises
            self.errors.append(exc)
            self.stop.set()
        finally:
            ended.set()


def group_lanes(
    messages: list[OutboundT], concurrency: int, batch_size: int, ordered: bool
) -> list[list[OutboundT]]:
    """Split the work by group: a group's messages stay in one lane, in input order. Messages without a
    group share one lane on an ordered target, else are dealt out a batch at a time."""
    count = max(1, concurrency)
    lanes: list[list[OutboundT]] = [[] for _ in range(count)]
    for index, message in enumerate(messages):
        if message.group_id is not None:
            lane = zlib.crc32(message.group_id.encode()) % count
        else:
            lane = 0 if ordered else (index // batch_size) % count
        lanes[lane].append(message)
    return [lane for lane in lanes if lane]
