"""The worker threads of redrive and replay: each runs its work until it ends or the run stops; the first
error of one stops the others, and Ctrl-C waits for each to finish the batch at hand (so the journal or the
ledger is exact) before it goes on."""

from __future__ import annotations

import functools
import queue
import threading
import zlib
from collections.abc import Callable, Iterable
from typing import TypeVar

T = TypeVar("T")

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


class LaneDealer:
    """Which lane a message goes to: a group's messages stay in one lane, in input order. Messages without
    a group share one lane on an ordered target, else are dealt out a batch at a time."""

    def __init__(self, concurrency: int, batch_size: int, ordered: bool) -> None:
        self.count, self.batch_size, self.ordered = max(1, concurrency), batch_size, ordered
        self._ungrouped = 0

    def lane(self, group_id: str | None) -> int:
        if group_id is not None:
            return zlib.crc32(group_id.encode()) % self.count
        if self.ordered:
            return 0
        lane = (self._ungrouped // self.batch_size) % self.count
        self._ungrouped += 1
        return lane


_END = object()


def run_in_lanes(
    pool: WorkerPool,
    items: Iterable[T],
    group_of: Callable[[T], str | None],
    dealer: LaneDealer,
    work: Callable[[list[T]], None],
) -> None:
    """Deal ``items`` out to a worker per lane as they are read, and run ``work`` on each lane's batches
    (of ``dealer.batch_size``, fewer at the end), in order. Memory holds a few batches per lane, whatever
    the number of items."""
    lanes: list[queue.Queue[object]] = [queue.Queue(dealer.batch_size * 4) for _ in range(dealer.count)]
    stop = pool.stop

    def put(lane: queue.Queue[object], item: object) -> bool:
        while not stop.is_set():
            try:
                lane.put(item, timeout=WAIT_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def feed() -> None:
        try:
            for item in items:
                if not put(lanes[dealer.lane(group_of(item))], item):
                    return
        finally:
            for lane in lanes:
                put(lane, _END)

    def drain(lane: queue.Queue[object]) -> None:
        ended = False
        while not ended:
            batch: list[T] = []
            while len(batch) < dealer.batch_size:
                try:
                    item = lane.get(timeout=WAIT_POLL_S)
                except queue.Empty:
                    if stop.is_set():
                        return  # what this lane holds was not sent: a rerun sends it
                    continue
                if item is _END:
                    ended = True
                    break
                batch.append(item)  # type: ignore[arg-type]
            if stop.is_set():
                return
            if batch:
                work(batch)

    pool.run([feed, *(functools.partial(drain, lane) for lane in lanes)])
