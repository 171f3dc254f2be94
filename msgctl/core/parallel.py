"""The bounded thread pool of the commands that read many channels (ls, dlq ls, chain show and check): a
request or a few per channel, several channels at a time. The AWS clients keep a connection per worker, and
botocore's adaptive retry mode slows them down when AWS throttles."""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from typing import TypeVar

from msgctl.errors import UsageError

T = TypeVar("T")
R = TypeVar("R")

READ_WORKERS = 8
WORKERS_VARIABLE = "MSGCTL_READ_WORKERS"


def read_workers() -> int:
    """How many requests run at a time: ``MSGCTL_READ_WORKERS``, else ``READ_WORKERS``."""
    value = os.environ.get(WORKERS_VARIABLE, "").strip()
    if not value:
        return READ_WORKERS
    if not value.isdigit() or int(value) < 1:
        raise UsageError(f"{WORKERS_VARIABLE}={value!r}: expected a whole number of at least 1")
    return int(value)


def parallel_map(function: Callable[[T], R], items: Iterable[T], workers: int | None = None) -> list[R]:
    """``function`` of every item, in the items' order, on up to ``workers`` threads (default
    ``read_workers()``). The first error stops the map: the calls not yet started are cancelled, those
    running are waited for, then the error of the earliest item that failed is raised. Ctrl-C stops it
    the same way."""
    pending = list(items)
    count = min(workers or read_workers(), len(pending))
    if count <= 1:
        return [_unless_interrupted(function, item) for item in pending]
    executor = ThreadPoolExecutor(count, thread_name_prefix="msgctl-read")
    try:
        futures = [executor.submit(_unless_interrupted, function, item) for item in pending]
        wait(futures, return_when=FIRST_EXCEPTION)
    except KeyboardInterrupt:
        # The maps running in worker threads (check's per service) stop at their next item, so Ctrl-C
        # waits for the requests under way, not for every channel.
        _interrupted.set()
        raise
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
        if threading.current_thread() is threading.main_thread():
            _interrupted.clear()
    for future in futures:
        error = None if future.cancelled() else future.exception()
        if error is not None:
            raise error
    return [future.result() for future in futures]


_interrupted = threading.Event()


class Interrupted(Exception):
    """A map in a worker thread stopped: Ctrl-C reached the main thread."""


def interrupted() -> bool:
    """Whether Ctrl-C stopped the map that runs this thread's work (a long loop asks between items)."""
    return _interrupted.is_set()


def _unless_interrupted(function: Callable[[T], R], item: T) -> R:
    if _interrupted.is_set():
        raise Interrupted("interrupted")
    return function(item)


def ordered_map(
    function: Callable[[T], R],
    items: Iterable[T],
    workers: int,
    ahead: int,
    flush_on: Callable[[T], bool] = lambda _: False,
) -> Iterator[R]:
    """``function`` of each item as a stream, in the items' order, on up to ``workers`` threads, with at
    most ``ahead`` items taken from ``items`` and not yet given back (memory stays bounded). An item for
    which ``flush_on`` is true first waits for those before it (a pause in a live stream shows what came
    before it). An error is raised where its item would have been given back; what is still running is
    waited for."""
    if workers <= 1:
        for item in items:
            yield function(item)
        return
    pending: deque[Future[R]] = deque()
    executor = ThreadPoolExecutor(workers, thread_name_prefix="msgctl-stream")
    source = iter(items)
    try:
        for item in source:
            if flush_on(item):
                while pending:
                    yield pending.popleft().result()
            pending.append(executor.submit(function, item))
            while pending and (len(pending) >= ahead or pending[0].done()):
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
        close = getattr(source, "close", None)
        if close is not None:  # a generator left part-way (the reader stopped) ends now, not when collected
            close()
