"""SQS may hand one message to two receives at once (at-least-once delivery; the moto server does it under
concurrent receives too): a redrive sends it once and deletes it with every receipt it was given."""

import threading
from pathlib import Path

from msgctl.core.journal import Journal
from msgctl.core.redrive import Dead, RedriveOptions, RedriveReport, Selection, redrive
from tests.test_redrive_core import FakeDlq, FakeTarget


class RedeliveringDlq(FakeDlq):
    """The first two receives run at the same time and both hand out m0. As on SQS, a delete with a receipt
    older than the message's latest one is answered with success and deletes nothing."""

    def __init__(self, count: int) -> None:
        super().__init__(count)
        self.together = threading.Barrier(2)
        self.calls = 0
        self.latest: dict[str, str] = {}

    def receive(self, hold_s: int) -> list[Dead]:
        with self.lock:
            self.calls += 1
            call = self.calls
        if call <= 2:
            self.together.wait(timeout=10)
        batch = super().receive(hold_s)
        with self.lock:
            if call <= 2 and "m0" not in [m.id for m in batch] and "m0" in self.messages:
                self.receives += 1
                batch.append(self._dead("m0"))  # the second delivery, with a receipt of its own
            self.latest.update((m.id, m.receipt) for m in batch)
        return batch

    def delete(self, messages: list[Dead]) -> list[tuple[Dead, str]]:
        with self.lock:
            for message in messages:
                if self.latest.get(message.id) == message.receipt:
                    self.messages.pop(message.id, None)
        return []

    def release(self, messages: list[Dead]) -> None:
        with self.lock:
            self.shown |= {m.id for m in messages if m.id in self.messages and self.latest[m.id] == m.receipt}


def test_a_message_delivered_to_two_workers_at_once_is_sent_once_and_deleted(tmp_path: Path) -> None:
    source, target = RedeliveringDlq(30), FakeTarget(delay=0.05)
    journal, report = Journal(tmp_path / "j.sqlite"), RedriveReport()
    redrive(source, target, journal, RedriveOptions(hold_s=1, concurrency=2), report)
    journal.close()
    assert source.calls >= 2 and source.together.broken is False, "two receives met"
    assert sorted(target.received) == list(range(30)), "each message sent once"
    assert report.possible_duplicates == [] and report.moved == 30
    assert source.messages == {}, "deleted with its latest receipt too"


def test_a_message_delivered_twice_and_left_in_the_dlq_is_released_with_its_latest_receipt(
    tmp_path: Path,
) -> None:
    source, target = RedeliveringDlq(30), FakeTarget(delay=0.05)
    others = frozenset(f"m{n}" for n in range(1, 30))
    journal, report = Journal(tmp_path / "j.sqlite"), RedriveReport()
    redrive(source, target, journal, RedriveOptions(Selection(ids=others), hold_s=1, concurrency=2), report)
    journal.close()
    assert source.together.broken is False, "two receives met"
    assert report.moved == 29 and sorted(target.received) == list(range(1, 30))
    assert source.messages == {"m0": 0} and source.shown == {"m0"}, (
        "visible again, not hidden till its hold ends"
    )
