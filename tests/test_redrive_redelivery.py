"""SQS may hand one message to two receives (at-least-once delivery; the moto server does it under concurrent
receives too). Only a message's latest receipt deletes it: an older one is answered with success and deletes
nothing, or fails. A redrive sends such a message once and deletes it, whichever receive saw it last."""

import threading
from pathlib import Path

from msgctl.core.journal import Journal
from msgctl.core.redrive import Dead, RedriveOptions, RedriveReport, Selection, redrive
from tests.test_redrive_core import FakeDlq, FakeTarget


class RedeliveringDlq(FakeDlq):
    """The second receive carried out also hands out m0, with a receipt of its own, which becomes m0's
    latest. The first two receives meet (``together``) unless ``after_first_delete``: then the receive
    handing out m0 again is carried out before the first delete, and answers after it. ``stale_delete``:
    what a delete with an older receipt does (``ignored``: success, nothing deleted, as SQS documents;
    ``fails``: an error entry). ``newest_fails``: a delete with m0's latest receipt fails too."""

    def __init__(
        self,
        count: int,
        stale_delete: str = "ignored",
        after_first_delete: bool = False,
        newest_fails: bool = False,
    ) -> None:
        super().__init__(count)
        self.newest_fails = newest_fails
        self.stale_delete = stale_delete
        self.after_first_delete = after_first_delete
        self.together = threading.Barrier(2)
        self.first_delete = threading.Event()
        self.second_out = threading.Event()
        self.calls = 0
        self.latest: dict[str, str] = {}

    def receive(self, hold_s: int) -> list[Dead]:
        with self.lock:
            self.calls += 1
            arrival = self.calls
        if arrival <= 2 and not self.after_first_delete:
            self.together.wait(timeout=10)
        with self.lock:
            self.receives += 1
            call = self.receives  # the order receives are carried out in
            taken = sorted(self.shown, key=lambda i: self.messages[i])[:10]
            self.shown -= set(taken)
            if call == 2 and "m0" not in taken and "m0" in self.messages:
                taken.append("m0")  # the second delivery
            batch = [self._dead(i) for i in taken]
            self.latest.update((m.id, m.receipt) for m in batch)
        if call == 2:
            self.second_out.set()
        if call == 2 and self.after_first_delete:
            assert self.first_delete.wait(timeout=10), "the first batch was deleted"
        return batch

    def delete(self, messages: list[Dead]) -> list[tuple[Dead, str]]:
        failed = []
        if self.after_first_delete:
            assert self.second_out.wait(timeout=10), "m0 was handed out again"
        with self.lock:
            for message in messages:
                if self.newest_fails and message.id == "m0" and self.latest["m0"] == message.receipt:
                    failed.append((message, "InternalError: try again"))
                elif self.latest.get(message.id) == message.receipt:
                    self.messages.pop(message.id, None)
                elif self.stale_delete == "fails":
                    failed.append((message, "ReceiptHandleIsInvalid: not the latest receipt"))
        self.first_delete.set()
        return failed

    def release(self, messages: list[Dead]) -> None:
        with self.lock:
            self.shown |= {m.id for m in messages if m.id in self.messages and self.latest[m.id] == m.receipt}


def _redrive(source: RedeliveringDlq, tmp_path: Path, selection: Selection | None = None):
    target, report = FakeTarget(delay=0.05), RedriveReport()
    journal = Journal(tmp_path / "j.sqlite")
    options = RedriveOptions(selection or Selection(), hold_s=1, concurrency=2)
    redrive(source, target, journal, options, report)
    states = journal.states([f"m{n}" for n in range(30)])
    journal.close()
    return target, report, states


def test_a_message_delivered_to_two_workers_at_once_is_sent_once_and_deleted(tmp_path) -> None:
    source = RedeliveringDlq(30)
    target, report, states = _redrive(source, tmp_path)
    assert source.calls >= 2 and source.together.broken is False, "two receives met"
    assert sorted(target.received) == list(range(30)), "each message sent once"
    assert (report.moved, report.failed, report.possible_duplicates) == (30, {}, [])
    assert source.messages == {}, "deleted with its latest receipt too"
    assert {entry.state for entry in states.values()} == {"deleted"}


def test_a_failed_delete_of_either_receipt_is_reported_and_left_to_resume(tmp_path) -> None:
    """Which receipt is the latest is not known to msgctl: a failure of any one of them may be the one that
    counts, so the message is named (here the failed one was the older: it is gone all the same)."""
    source = RedeliveringDlq(30, stale_delete="fails")
    target, report, states = _redrive(source, tmp_path)
    assert sorted(target.received) == list(range(30)), "each message sent once"
    assert report.moved == 30 and list(report.failed) == ["m0"]
    assert "sent, but not deleted from the DLQ" in report.failed["m0"]
    assert states["m0"].state == "sent", "--resume deletes it without sending it again"
    assert source.messages == {}


def test_a_failed_delete_with_the_newest_receipt_is_never_taken_for_a_delete(tmp_path) -> None:
    source = RedeliveringDlq(30, newest_fails=True)
    target, report, states = _redrive(source, tmp_path)
    assert sorted(target.received) == list(range(30)), "each message sent once"
    assert report.moved == 30 and list(report.failed) == ["m0"], "loud, though the older receipt 'worked'"
    assert states["m0"].state == "sent"
    assert source.messages == {"m0": 0}, "still in the DLQ, for --resume"


def test_a_copy_received_before_the_delete_and_seen_after_it_is_deleted_not_sent(tmp_path) -> None:
    source = RedeliveringDlq(30, after_first_delete=True)
    target, report, states = _redrive(source, tmp_path)
    assert sorted(target.received) == list(range(30)), "each message sent once"
    assert (report.moved, report.failed) == (30, {}), "m0 counted once, and deleted in the end"
    assert source.messages == {}
    assert states["m0"].state == "deleted"


def test_a_message_delivered_twice_and_left_in_the_dlq_is_released_with_its_latest_receipt(tmp_path) -> None:
    source = RedeliveringDlq(30)
    target, report, _ = _redrive(source, tmp_path, Selection(ids=frozenset(f"m{n}" for n in range(1, 30))))
    assert source.together.broken is False, "two receives met"
    assert report.moved == 29 and sorted(target.received) == list(range(1, 30))
    assert source.messages == {"m0": 0} and source.shown == {"m0"}, (
        "visible again, not hidden till its hold ends"
    )
