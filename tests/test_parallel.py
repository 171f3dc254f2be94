"""parallel_map, the bounded pool of the commands that read many channels: order, bounds, errors. No
server; threads are made to overlap or finish out of order with events and barriers, never with sleeps."""

import threading

import pytest

from msgctl.config import Settings
from msgctl.core.parallel import READ_WORKERS, parallel_map, read_workers
from msgctl.errors import ExitCode, NotFoundError, UsageError

WAIT_S = 10  # only reached when the pool is broken: the test then fails instead of hanging


def test_results_keep_the_order_of_the_items_whatever_order_the_calls_end_in() -> None:
    last_done = threading.Event()

    def double(n: int) -> int:
        if n == 0:  # the first item ends after all the others
            assert last_done.wait(WAIT_S)
        if n == 99:
            last_done.set()
        return n * 2

    assert parallel_map(double, range(100), workers=4) == [n * 2 for n in range(100)]


def test_workers_calls_run_at_once_and_never_more() -> None:
    together = threading.Barrier(4, timeout=WAIT_S)  # broken (an error) unless 4 calls overlap
    lock = threading.Lock()
    running, most = 0, 0

    def call(n: int) -> int:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        if n < 4:
            together.wait()
        with lock:
            running -= 1
        return n

    assert parallel_map(call, range(40), workers=4) == list(range(40))
    assert most == 4


def test_the_first_error_is_raised_once_the_running_calls_have_ended() -> None:
    failed = threading.Event()
    lock = threading.Lock()
    running = 0
    error = NotFoundError("queue q is gone", "QueueDoesNotExist")

    def call(n: int) -> int:
        nonlocal running
        with lock:
            running += 1
        try:
            if n == 2:
                failed.set()
                raise error
            if n < 4:  # still running when item 2 fails
                assert failed.wait(WAIT_S)
            return n
        finally:
            with lock:
                running -= 1

    with pytest.raises(NotFoundError) as raised:
        parallel_map(call, range(1000), workers=4)
    assert raised.value is error and raised.value.exit_code == ExitCode.NOT_FOUND
    assert running == 0


def test_of_several_errors_the_earliest_item_s_is_raised() -> None:
    both_failing = threading.Barrier(2, timeout=WAIT_S)

    def call(n: int) -> int:
        if n in (1, 3):
            both_failing.wait()  # both fail before either is seen
            raise ValueError(f"item {n}")
        return n

    with pytest.raises(ValueError, match="item 1"):
        parallel_map(call, range(4), workers=4)


def test_one_item_or_one_worker_runs_in_the_calling_thread() -> None:
    caller = threading.current_thread()
    assert parallel_map(lambda n: threading.current_thread() is caller, [1]) == [True]
    assert parallel_map(lambda n: threading.current_thread() is caller, range(5), workers=1) == [True] * 5
    assert parallel_map(lambda n: n, []) == []


def test_the_worker_count_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert read_workers() == READ_WORKERS == 8  # conftest clears the variable
    monkeypatch.setenv("MSGCTL_READ_WORKERS", "3")
    assert read_workers() == 3
    for bad in ("0", "-2", "many"):
        monkeypatch.setenv("MSGCTL_READ_WORKERS", bad)
        with pytest.raises(UsageError, match="MSGCTL_READ_WORKERS"):
            read_workers()


@pytest.mark.parametrize(("workers", "pool"), [(None, 24), ("3", 10), ("32", 96)])
def test_aws_clients_keep_a_connection_per_thread_that_may_share_them(
    monkeypatch: pytest.MonkeyPatch, workers: str | None, pool: int
) -> None:
    from msgctl.backends.aws import AwsClients

    if workers is not None:
        monkeypatch.setenv("MSGCTL_READ_WORKERS", workers)
    client = AwsClients(Settings(region="us-east-1", endpoint_url="http://127.0.0.1:9")).client("sqs")
    assert client.meta.config.max_pool_connections == pool
    assert client.meta.config.retries["mode"] == "adaptive"


def test_aws_clients_made_from_many_threads_are_one_client() -> None:
    from msgctl.backends.aws import AwsClients

    clients = AwsClients(Settings(region="us-east-1", endpoint_url="http://127.0.0.1:9"))
    start = threading.Barrier(8, timeout=WAIT_S)

    def client(n: int) -> object:
        start.wait()
        return clients.client("sqs")

    made = parallel_map(client, range(8), workers=8)
    assert all(c is made[0] for c in made)


def test_ctrl_c_stops_the_maps_running_in_worker_threads_at_their_next_item() -> None:
    """check runs a map per service, each in a worker thread: Ctrl-C in the main thread must not wait for
    every channel of them."""
    import os
    import signal
    import threading
    import time

    from msgctl.core.parallel import interrupted, parallel_map

    done: list[int] = []

    def slow(item: int) -> int:
        time.sleep(0.05)
        done.append(item)
        return item

    def service(name: str) -> list[int]:
        return parallel_map(slow, range(200), workers=2)  # 5 s when left alone

    # (a process started in the background by a shell ignores SIGINT: Python then raises nothing on it)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
    started = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            parallel_map(service, ["sqs", "sns"], workers=2)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert time.monotonic() - started < 2.0, "Ctrl-C waited for the whole scan"
    assert len(done) < 100
    assert not interrupted(), "the next map runs again"
    assert parallel_map(lambda n: n * 2, [1, 2, 3]) == [2, 4, 6]
