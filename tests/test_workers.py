"""The pieces redrive, replay and the targets share: group hold-back, lanes by group, the worker pool."""

import _thread
import signal
import threading
import time
from dataclasses import dataclass

import pytest

from msgctl.core.outbound import HELD_BACK, HoldBack
from msgctl.core.workers import LaneDealer, WorkerPool, run_in_lanes
from msgctl.envelope import Envelope

NO_ENVELOPE = Envelope("sqs:q", None, b"", {})


@dataclass(frozen=True)
class Message:
    id: str
    group_id: str | None
    envelope: Envelope = NO_ENVELOPE
    dedup_id: str = ""


def messages(*groups: str | None) -> list[Message]:
    return [Message(f"m{n}", group) for n, group in enumerate(groups)]


def sent_after_failing(hold_back: HoldBack, batch: list[Message], failing: set[str]) -> list[str]:
    """What a sender using ``hold_back`` sends of ``batch`` when the messages ``failing`` are refused."""
    sent = []
    for message in batch:
        if hold_back.holds(message):
            continue
        if message.id in failing:
            hold_back.fail(message)
        else:
            sent.append(message.id)
    return sent


def test_a_failure_holds_back_the_rest_of_its_group_only():
    batch = messages("a", "b", "a", "b", None, "a")
    assert sent_after_failing(HoldBack(ungrouped=False), batch, {"m0"}) == ["m1", "m3", "m4"]
    assert sent_after_failing(HoldBack(ungrouped=False), batch, {"m3"}) == ["m0", "m1", "m2", "m4", "m5"]


def test_the_group_less_messages_are_one_group_only_on_a_target_that_keeps_their_order():
    batch = messages(None, "a", None, None)
    assert sent_after_failing(HoldBack(ungrouped=True), batch, {"m0"}) == ["m1"]
    assert sent_after_failing(HoldBack(ungrouped=False), batch, {"m0"}) == ["m1", "m2", "m3"]


def test_a_target_that_keeps_no_order_holds_nothing_back():
    hold_back = HoldBack(ungrouped=True, keep_order=False)
    assert sent_after_failing(hold_back, messages("a", "a", None, None), {"m0", "m2"}) == ["m1", "m3"]
    assert HoldBack(ungrouped=True).reason == HELD_BACK


def test_lanes_keep_each_group_whole_and_in_input_order():
    groups = [f"g{n % 7}" for n in range(70)]
    dealer = LaneDealer(4, 10, ordered=False)
    lanes = {(m.group_id, dealer.lane(m.group_id)) for m in messages(*groups)}
    assert len(lanes) == len(set(groups)), "each group has one lane"
    assert len({lane for _, lane in lanes}) > 1


def test_the_pool_runs_every_lane_and_keeps_group_order_under_concurrency():
    batch = messages(*[f"g{n % 5}" for n in range(60)], *([None] * 25))
    done: list[Message] = []
    sizes: list[int] = []
    threads: set[int] = set()
    lock = threading.Lock()

    def work(lane_batch: list[Message]) -> None:
        for message in lane_batch:
            time.sleep(0.001)  # lets the lanes interleave
            with lock:
                done.append(message)
        with lock:
            sizes.append(len(lane_batch))
            threads.add(threading.get_ident())

    pool = WorkerPool(threading.Event())
    run_in_lanes(pool, iter(batch), lambda m: m.group_id, LaneDealer(3, 10, ordered=False), work)
    pool.raise_error()
    assert len(threads) > 1 and max(sizes) == 10
    assert sorted(m.id for m in done) == sorted(m.id for m in batch)
    for group in {m.group_id for m in batch} - {None}:  # an unordered target: group-less ones in any order
        assert [m.id for m in done if m.group_id == group] == [m.id for m in batch if m.group_id == group]


def test_an_error_in_one_worker_stops_the_others_and_is_raised_after():
    stop = threading.Event()
    rounds: list[int] = []

    def failing() -> None:
        time.sleep(0.05)
        raise ValueError("the target is gone")

    def looping() -> None:
        count = 0
        while not stop.is_set() and count < 500:  # 5 s at most, should nothing stop it
            time.sleep(0.01)
            count += 1
        rounds.append(count)

    pool = WorkerPool(stop)
    pool.run([looping, failing, looping])  # returns once every worker has ended
    assert stop.is_set() and len(rounds) == 2 and max(rounds) < 500
    with pytest.raises(ValueError, match="the target is gone"):
        pool.raise_error()


def test_an_interrupt_stops_the_workers_after_the_batch_at_hand_and_is_raised():
    stop = threading.Event()
    lock = threading.Lock()
    begun: list[int] = []
    finished: list[int] = []

    def worker(number: int) -> None:
        batches = 0
        while not stop.is_set() and batches < 100:  # 10 s at most, should nothing stop it
            with lock:
                begun.append(number)
            if number == 0 and batches == 1:
                _thread.interrupt_main()  # Ctrl-C, delivered to the waiting thread
            time.sleep(0.1)  # the batch at hand
            with lock:
                finished.append(number)
            batches += 1

    pool = WorkerPool(stop)
    # As in a terminal: a shell that starts a job in the background has it ignore SIGINT, and then
    # interrupt_main does nothing.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            pool.run([lambda n=n: worker(n) for n in range(3)])
    finally:
        signal.signal(signal.SIGINT, previous)
    assert stop.is_set()
    assert sorted(finished) == sorted(begun)  # every batch begun was finished before the interrupt went on
    assert 3 <= len(finished) < 30
    pool.raise_error()  # an interrupt is not a worker's error
