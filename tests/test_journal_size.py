"""The journal stays small: a receipt is kept only while a resume may need it, so 100,000 messages redriven
leave well under 30 MB (the core against an in-memory DLQ with SQS-sized receipt handles)."""

import sqlite3
import threading
import uuid
from collections import deque

import pytest

from msgctl.core.journal import Journal
from msgctl.core.outbound import Delivery
from msgctl.core.redrive import Dead, RedriveOptions, RedriveReport, redrive
from msgctl.envelope import Envelope

RECEIPT_BYTES = 512  # an SQS receipt handle is several hundred characters (LocalStack's: ~190)
LIMIT_100K = 30 * 1024 * 1024


class QuickDlq:
    """Hands out each message once (ids like SQS's), deletes and releases in O(1)."""

    channel = "sqs:big-dlq"

    def __init__(self, count: int) -> None:
        self.lock = threading.Lock()
        self.visible_ids = deque(str(uuid.uuid4()) for _ in range(count))
        self.present = set(self.visible_ids)

    def receive(self, hold_s: int) -> list[Dead]:
        with self.lock:
            ids = [self.visible_ids.popleft() for _ in range(min(10, len(self.visible_ids)))]
        return [Dead(i, (i * 15)[:RECEIPT_BYTES], Envelope(self.channel, i, b"{}", {}, {})) for i in ids]

    def delete(self, messages: list[Dead]) -> list[tuple[Dead, str]]:
        with self.lock:
            self.present -= {m.id for m in messages}
        return []

    def release(self, messages: list[Dead]) -> None:
        with self.lock:
            self.visible_ids.extend(m.id for m in messages if m.id in self.present)

    def extend(self, messages: list[Dead], hold_s: int) -> None:
        pass

    def visible(self) -> int:
        return len(self.visible_ids)

    def hidden(self) -> int:
        with self.lock:
            return len(self.present) - len(self.visible_ids)

    def delete_by_receipt(self, message_id: str, receipt: str) -> bool:
        return True

    def release_by_receipt(self, receipts: list[str]) -> None:
        pass


class IdTarget:
    """Confirms everything with an id of its own, as SQS does (the journal keeps it)."""

    channel = "sqs:big"
    dedups = False

    def send(self, messages: list[Dead]) -> Delivery[Dead]:
        return Delivery(target_ids=[(m, str(uuid.uuid4())) for m in messages])


def _redrive(tmp_path, count: int) -> tuple[int, int]:
    """The journal's bytes on disk while still open at the end of the run, and once closed."""
    journal = Journal(tmp_path / "journal.sqlite")
    report = RedriveReport()
    redrive(QuickDlq(count), IdTarget(), journal, RedriveOptions(concurrency=4), report)
    assert report.moved == count and journal.counts() == {"deleted": count}
    open_size = journal.size()
    journal.close()
    return open_size, journal.size()


def test_a_journal_takes_under_300_bytes_a_message_during_and_after_a_run(tmp_path) -> None:
    count = 20_000
    open_size, closed_size = _redrive(tmp_path, count)
    assert closed_size / count * 100_000 < LIMIT_100K, f"{closed_size / count:.0f} bytes a message"
    assert closed_size / count < 300
    assert open_size / count < 300 + 4096 * 1000 / count, "and its WAL file (a checkpoint every 1000 pages)"


@pytest.mark.slow
def test_100000_messages_leave_a_journal_under_30_mb(tmp_path) -> None:
    _open_size, closed_size = _redrive(tmp_path, 100_000)
    assert closed_size < LIMIT_100K, closed_size


def test_a_receipt_is_dropped_once_its_message_is_done_with(tmp_path) -> None:
    journal = Journal(tmp_path / "journal.sqlite")
    journal.received([(f"m{n}", f"r{n}") for n in range(6)])
    journal.mark(["m0"], "sent")
    journal.mark(["m1"], "copied")
    journal.mark(["m2"], "deleted")
    journal.mark(["m3"], "failed", "refused")
    journal.released(["m4", "m0"])  # m0 was sent: it stays sent, with its receipt
    receipts = {i: e.receipt for i, e in journal.states(f"m{n}" for n in range(6)).items()}
    journal.close()
    assert receipts == {"m0": "r0", "m1": "r1", "m2": None, "m3": None, "m4": None, "m5": "r5"}


def test_a_journal_an_older_version_wrote_keeps_the_receipts_a_resume_needs(tmp_path) -> None:
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript(
        """CREATE TABLE messages (message_id TEXT PRIMARY KEY, state TEXT NOT NULL, receipt TEXT,
             attempts INTEGER NOT NULL DEFAULT 0, detail TEXT, updated_at REAL NOT NULL);
           CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
           INSERT INTO messages VALUES ('a', 'sent', 'ra', 1, NULL, 1.0), ('b', 'held', 'rb', 0, NULL, 1.0),
             ('c', 'deleted', 'rc', 1, NULL, 1.0);"""
    )
    db.close()
    journal = Journal(path)
    assert [(e.message_id, e.receipt) for e in journal.in_state("sent")] == [("a", "ra")]
    assert [(e.message_id, e.receipt) for e in journal.in_state("held")] == [("b", "rb")]
    assert journal.states(["c"])["c"].receipt is None
    journal.close()
    assert sqlite3.connect(path).execute(
        "SELECT COUNT(*) FROM messages WHERE receipt IS NOT NULL"
    ).fetchone() == (0,)
