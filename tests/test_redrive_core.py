"""The redrive core against in-memory fakes: failures at each step leave every message accounted for."""

import threading
import time
from pathlib import Path

import pytest

from msgctl.core.journal import UNFINISHED, Journal
from msgctl.core.outbound import Delivery
from msgctl.core.redrive import Dead, RedriveOptions, RedriveReport, Selection, redrive, resume
from msgctl.envelope import Envelope, MessageAttribute
from msgctl.filter.engine import FilterPolicy


class FakeDlq:
    channel = "sqs:fake-dlq"

    def __init__(
        self,
        count: int,
        extend_fails: bool = False,
        lose_replies: set[int] | None = None,
        lost_for: float | None = None,
    ) -> None:
        self.lock = threading.Lock()
        self.messages = {f"m{n}": n for n in range(count)}
        self.shown = set(self.messages)
        self.receipts: dict[str, str] = {}
        self.extend_fails = extend_fails
        self.lose_replies = lose_replies or set()  # these receives' replies are lost: hidden for the hold
        self.lost: dict[str, float] = {}  # message id -> when its hold ends
        self.lost_for = lost_for  # how long a lost receive hides its messages (default: the hold asked)
        self.arrived_later: set[str] = set()  # entered the DLQ after the first receive
        self.receives = 0
        self.extensions = 0

    def arrive(self, numbers: list[int]) -> None:
        """New dead letters (new ids), as a target that dead-letters what it gets would make."""
        with self.lock:
            for n in numbers:
                message_id = f"m{n}-again{len(self.messages)}"
                self.messages[message_id] = n
                self.shown.add(message_id)
                if self.receives:
                    self.arrived_later.add(message_id)

    def _expire(self) -> None:
        now = time.monotonic()
        for message_id in [i for i, until in self.lost.items() if until <= now]:
            del self.lost[message_id]
            self.shown.add(message_id)

    def _dead(self, message_id: str) -> Dead:
        n = self.messages[message_id]
        receipt = f"{message_id}-r{self.receives}"
        self.receipts[receipt] = message_id
        kind = MessageAttribute("String", "even" if n % 2 == 0 else "odd")
        return Dead(
            message_id,
            receipt,
            Envelope(self.channel, message_id, str(n).encode(), {}, {"kind": kind}),
            returned=message_id in self.arrived_later,
        )

    def receive(self, hold_s: int) -> list[Dead]:
        with self.lock:
            self._expire()
            self.receives += 1
            if self.receives in self.lose_replies:  # carried out, the reply lost; the client asks again
                taken = sorted(self.shown, key=lambda i: self.messages[i])[:10]
                self.shown -= set(taken)
                until = time.monotonic() + (self.lost_for or hold_s)
                self.lost.update((i, until) for i in taken)
            taken = sorted(self.shown, key=lambda i: self.messages[i])[:10]
            self.shown -= set(taken)
            return [self._dead(i) for i in taken]

    def delete(self, messages: list[Dead]) -> list[tuple[Dead, str]]:
        with self.lock:
            for message in messages:
                self.messages.pop(message.id, None)
        return []

    def release(self, messages: list[Dead]) -> None:
        with self.lock:
            self.shown |= {m.id for m in messages if m.id in self.messages}

    def extend(self, messages: list[Dead], hold_s: int) -> None:
        self.extensions += 1
        if self.extend_fails:
            raise RuntimeError("throttled")

    def visible(self) -> int:
        with self.lock:
            self._expire()
            return len(self.shown)

    def hidden(self) -> int:
        with self.lock:
            self._expire()
            return len(set(self.messages) - self.shown)

    def delete_by_receipt(self, message_id: str, receipt: str) -> bool:
        with self.lock:
            self.shown.discard(self.receipts.get(receipt, ""))
            return self.messages.pop(self.receipts.get(receipt, ""), None) is not None

    def release_by_receipt(self, receipts: list[str]) -> None:
        with self.lock:
            self.shown |= {self.receipts[r] for r in receipts if self.receipts.get(r) in self.messages}


class FakeTarget:
    channel = "sqs:fake"
    dedups = False

    def __init__(
        self,
        fail_on: set[int] | None = None,
        crash_on: int | None = None,
        delay: float = 0,
        unsure_on: set[int] | None = None,
        dead_letters_into: FakeDlq | None = None,
    ) -> None:
        self.fail_on, self.crash_on, self.delay = fail_on or set(), crash_on, delay
        self.dead_letters_into = dead_letters_into  # confirms, then dead-letters each message back there
        self.unsure_on = unsure_on or set()  # the reply is lost: it arrived, and counts as failed
        self.received: list[int] = []

    def send(self, messages: list[Dead]) -> Delivery[Dead]:
        time.sleep(self.delay)  # a slow target: the heartbeat gets to run
        numbers = [int(m.envelope.body) for m in messages]
        if self.crash_on is not None and self.crash_on in numbers:
            raise ConnectionError("the connection dropped")
        self.received += [n for n in numbers if n not in self.fail_on]
        if self.dead_letters_into is not None:  # at most 3 times each, so a run without the rule ends too
            self.dead_letters_into.arrive([n for n in numbers if self.received.count(n) <= 3])
        refused = self.fail_on | self.unsure_on
        return Delivery(
            [(m, "refused") for m in messages if int(m.envelope.body) in refused],
            unsure=[m for m in messages if int(m.envelope.body) in self.unsure_on],
        )


def _run(source, target, tmp_path: Path, **options):
    journal = Journal(tmp_path / "journal.sqlite")
    report = RedriveReport()
    try:
        redrive(source, target, journal, RedriveOptions(hold_s=1, **options), report)
    finally:
        counts = journal.counts()
        journal.close()
    return report, counts


def test_everything_moves_once_with_several_workers(tmp_path) -> None:
    source, target = FakeDlq(95), FakeTarget()
    report, counts = _run(source, target, tmp_path, concurrency=3)
    assert sorted(target.received) == list(range(95))
    assert report.moved == 95 and source.messages == {}
    assert counts == {"deleted": 95}


def test_messages_dead_lettered_again_during_the_run_are_counted_not_moved_again(tmp_path) -> None:
    source = FakeDlq(30)
    target = FakeTarget(dead_letters_into=source)
    report, counts = _run(source, target, tmp_path, concurrency=2)
    assert sorted(target.received) == list(range(30)), "each message sent once"
    assert (report.moved, report.skipped) == (30, 0)
    assert (report.returned, report.not_received) == (30, 0), "what came back does not cut the run short"
    assert len(source.messages) == 30 and source.shown == set(source.messages), "back, and visible"
    assert counts == {"deleted": 30, "released": report.returned}


class _BusyDlq(FakeDlq):
    """Keeps receiving new dead letters: 10 more with every receive (up to a bound, so a run without the
    limit ends too)."""

    arrived = 0

    def receive(self, hold_s: int) -> list[Dead]:
        batch = super().receive(hold_s)
        with self.lock:
            for n in range(10 if self.arrived < 3000 else 0):
                self.arrived += 1
                self.messages[f"new{self.arrived}"] = 1000 + n
                self.shown.add(f"new{self.arrived}")
                self.arrived_later.add(f"new{self.arrived}")
        return batch


def test_a_dlq_that_keeps_receiving_does_not_keep_the_run_going(tmp_path) -> None:
    source, target = _BusyDlq(20), FakeTarget()
    report, _ = _run(source, target, tmp_path, concurrency=2)
    assert report.moved == 20 and sorted(target.received) == list(range(20))
    assert report.returned <= 20 + 10 * 2 + 10, "stopped receiving near what the DLQ held at the start"
    assert report.not_received > 0 and report.not_received == len(source.messages) - report.returned
    assert source.shown == set(source.messages), "what was received and held is visible again"


class _ReturnsFirstDlq(FakeDlq):
    """Hands out what came in during the run before what it held at the start (SQS standard queues keep no
    order)."""

    def receive(self, hold_s: int) -> list[Dead]:
        with self.lock:
            self.receives += 1
            taken = sorted(self.shown, key=lambda i: (i not in self.arrived_later, self.messages[i]))[:10]
            self.shown -= set(taken)
            return [self._dead(i) for i in taken]


def test_messages_that_came_in_first_never_cut_the_move_of_the_rest_short(tmp_path) -> None:
    source = _ReturnsFirstDlq(60)
    target = FakeTarget(dead_letters_into=source)
    report, counts = _run(source, target, tmp_path, concurrency=2)
    assert sorted(target.received) == list(range(60)), "every message the DLQ held at the start moved"
    assert report.not_received == 0 and counts["deleted"] == 60


class _FifoDlq(FakeDlq):
    """Hands out no message of a group (n % 3) while an earlier one of the group is held."""

    channel = "sqs:fake-dlq.fifo"

    def receive(self, hold_s: int) -> list[Dead]:
        with self.lock:
            self.receives += 1
            blocked, taken = set(), []
            for message_id in sorted(self.messages, key=lambda i: self.messages[i]):
                group = self.messages[message_id] % 3
                if message_id not in self.shown:
                    blocked.add(group)
                elif group not in blocked and len(taken) < 10:
                    taken.append(message_id)
            self.shown -= set(taken)
            return [self._dead(i) for i in taken]


def test_fifo_messages_behind_a_skipped_one_are_counted_as_not_handed_out(tmp_path) -> None:
    source, target = _FifoDlq(12), FakeTarget()
    report, _ = _run(source, target, tmp_path, selection=Selection(filter=FilterPolicy({"kind": ["even"]})))
    assert target.received == [0, 2, 4, 6, 8], "the first receive takes 10; 10 and 11 wait behind 1..9, held"
    assert (report.skipped, report.not_handed_out) == (5, 2) and source.shown == {
        "m1",
        "m3",
        "m5",
        "m7",
        "m9",
        "m10",
        "m11",
    }
    assert report.to_json()["not_handed_out"] == report.not_handed_out


def test_a_lost_receive_reply_is_waited_for_and_its_messages_moved(tmp_path) -> None:
    source, target = FakeDlq(30, lose_replies={2}), FakeTarget()
    journal, report, said = Journal(tmp_path / "j.sqlite"), RedriveReport(), []
    redrive(source, target, journal, RedriveOptions(hold_s=1), report, notify=said.append)
    journal.close()
    assert sorted(target.received) == list(range(30)) and source.messages == {}
    assert report.still_held == 0 and 0 < report.waited_s < 1 + 5
    assert said[0].startswith("10 messages of sqs:fake-dlq are held") and "up to 6 s" in said[0]
    assert said[1].startswith("they came back after")


@pytest.mark.slow
def test_messages_held_elsewhere_past_the_wait_are_counted_as_still_held(tmp_path) -> None:
    source, target = FakeDlq(20, lose_replies={1}, lost_for=60), FakeTarget()
    report, _ = _run(source, target, tmp_path)
    assert report.moved == 10 and report.still_held == 10 and report.waited_s >= 6
    assert len(source.messages) == 10


def test_refused_messages_stay_in_the_dlq_visible(tmp_path) -> None:
    source, target = FakeDlq(20), FakeTarget(fail_on={3, 4})
    report, counts = _run(source, target, tmp_path)
    assert set(report.failed) == {"m3", "m4"}
    assert set(source.messages) == {"m3", "m4"} and source.shown == {"m3", "m4"}
    assert counts == {"deleted": 18, "released": 2}


def test_a_send_with_no_answer_stays_in_the_dlq_named_as_a_possible_duplicate(tmp_path) -> None:
    source, target = FakeDlq(20), FakeTarget(unsure_on={5})
    report, _ = _run(source, target, tmp_path)
    assert report.possible_duplicates == ["m5"] and set(report.failed) == {"m5"}
    assert set(source.messages) == {"m5"} and 5 in target.received, "in both places, and named"
    journal = Journal(tmp_path / "journal.sqlite")
    assert "possible duplicate" in (journal.states(["m5"])["m5"].detail or "")
    journal.close()


def test_a_crash_in_send_releases_the_batch_and_resume_finishes(tmp_path) -> None:
    source, target = FakeDlq(30), FakeTarget(crash_on=15)
    with pytest.raises(ConnectionError):
        _run(source, target, tmp_path)
    assert source.shown == set(source.messages), "nothing is left hidden"
    target.crash_on = None
    journal = Journal(tmp_path / "journal.sqlite")
    report = RedriveReport()
    resume(source, journal, report, copy=False)
    redrive(source, target, journal, RedriveOptions(hold_s=1), report)
    journal.close()
    assert sorted(target.received) == list(range(30)) and source.messages == {}


class _DeleteFailsOnce(FakeDlq):
    def delete(self, messages: list[Dead]) -> list[tuple[Dead, str]]:
        if not getattr(self, "failed_once", False):
            self.failed_once = True
            raise ConnectionError("the connection dropped")
        return super().delete(messages)


def test_an_error_after_a_confirmed_send_keeps_it_sent_and_resume_deletes_it_unsent(tmp_path) -> None:
    from msgctl.api.redrive import check_journal
    from msgctl.errors import UsageError

    source, target = _DeleteFailsOnce(15), FakeTarget()
    pair = {"dlq": source.channel, "target": target.channel, "mode": "move"}
    with pytest.raises(ConnectionError):
        _run(source, target, tmp_path)
    journal = Journal(tmp_path / "journal.sqlite")
    journal.set_meta(pair)
    assert journal.counts().get("sent") == 10, "confirmed by the target: still sent, not released"
    journal.close()
    assert source.shown == set(source.messages) and len(source.messages) == 15, "visible again"
    with pytest.raises(UsageError, match="unfinished"):
        check_journal(tmp_path / "journal.sqlite", False, pair)

    journal = Journal(tmp_path / "journal.sqlite")
    report = RedriveReport()
    resume(source, journal, report, copy=False)
    redrive(source, target, journal, RedriveOptions(hold_s=1), report)
    journal.close()
    assert sorted(target.received) == list(range(15)), "each sent once"
    assert source.messages == {} and report.cleaned_up == 10


def test_a_failing_heartbeat_neither_kills_the_run_nor_keeps_messages_hidden(tmp_path) -> None:
    source = FakeDlq(40, extend_fails=True)
    odd = FilterPolicy({"kind": ["odd"]})
    report, _ = _run(source, FakeTarget(delay=0.3), tmp_path, selection=Selection(filter=odd))
    assert source.extensions > 0, "the heartbeat ran, and failed"
    assert report.moved == 20 and report.skipped == 20
    assert source.shown == set(source.messages) and len(source.messages) == 20


def test_copy_leaves_the_dlq_whole_and_the_journal_finished(tmp_path) -> None:
    source, target = FakeDlq(12), FakeTarget()
    report, counts = _run(source, target, tmp_path, copy=True)
    assert report.moved == 12 and len(source.messages) == 12 and source.shown == set(source.messages)
    assert counts == {"copied": 12}, "copied, then made visible again: the journal says copied"
    assert not any(counts.get(state) for state in UNFINISHED)


def test_a_copy_resumed_after_an_error_copies_each_message_once(tmp_path) -> None:
    source, target = FakeDlq(25), FakeTarget(crash_on=15)
    with pytest.raises(ConnectionError):
        _run(source, target, tmp_path, copy=True)
    assert len(target.received) == 10 and source.shown == set(source.messages)
    target.crash_on = None
    journal = Journal(tmp_path / "journal.sqlite")
    report = RedriveReport()
    resume(source, journal, report, copy=True)
    redrive(source, target, journal, RedriveOptions(hold_s=1, copy=True), report)
    counts = journal.counts()
    journal.close()
    assert sorted(target.received) == list(range(25)), "none copied twice"
    assert (report.moved, report.skipped) == (15, 10) and counts == {"copied": 25}
    assert len(source.messages) == 25 and source.shown == set(source.messages)


def test_resume_releases_what_a_killed_copy_held_and_copies_it_no_more(tmp_path) -> None:
    source, target = FakeDlq(12), FakeTarget()
    batch = source.receive(60)  # a killed run's: copied, still held
    journal = Journal(tmp_path / "journal.sqlite")
    journal.received((m.id, m.receipt) for m in batch)
    journal.mark([m.id for m in batch], "copied")
    report = RedriveReport()
    resume(source, journal, report, copy=True)
    assert source.shown == set(source.messages), "visible again"
    redrive(source, target, journal, RedriveOptions(hold_s=1, copy=True), report)
    journal.close()
    assert sorted(target.received) == [10, 11] and report.skipped == 10


def test_max_stops_after_n_and_releases_the_rest(tmp_path) -> None:
    source, target = FakeDlq(25), FakeTarget()
    report, _ = _run(source, target, tmp_path, selection=Selection(max=7))
    assert report.moved == 7 and len(target.received) == 7
    assert len(source.messages) == 18 and source.shown == set(source.messages)


def test_a_dry_run_moves_nothing_and_releases_everything(tmp_path) -> None:
    source, target = FakeDlq(15), FakeTarget()
    report = RedriveReport()
    redrive(source, target, None, RedriveOptions(hold_s=1, dry_run=True), report)
    assert sorted(report.would_move) == sorted(f"m{n}" for n in range(15))
    assert target.received == [] and source.shown == set(source.messages)


def test_resume_refuses_another_redrive_s_journal(tmp_path) -> None:
    from msgctl.api.redrive import check_journal
    from msgctl.errors import UsageError

    path = tmp_path / "j.sqlite"
    journal = Journal(path)
    journal.set_meta({"dlq": "sqs:a-dlq", "target": "sqs:a", "mode": "copy"})
    journal.held([("m1", "r1")])
    journal.close()
    with pytest.raises(UsageError, match="records another redrive"):
        check_journal(path, True, {"dlq": "sqs:a-dlq", "target": "sqs:a", "mode": "move"})
    with pytest.raises(UsageError, match="unfinished"):
        check_journal(path, False, {"dlq": "sqs:a-dlq", "target": "sqs:a", "mode": "copy"})
    check_journal(path, True, {"dlq": "sqs:a-dlq", "target": "sqs:a", "mode": "copy"})


class _FakeCommit:
    def __init__(self, log: list[str], name: str, error: Exception | None = None) -> None:
        self.log, self.name, self.error = log, name, error

    def wait(self) -> None:
        self.log.append(f"wait {self.name}")
        if self.error:
            raise self.error


def test_activemq_commits_count_as_moved_only_once_confirmed():
    from msgctl.backends.activemq_redrive import IN_FLIGHT_COMMITS, AmqRedriveReport, _Commits
    from msgctl.errors import MsgctlError

    log: list[str] = []
    report = AmqRedriveReport()
    commits = _Commits(report, lambda n: log.append(f"progress {n}"))
    batch = [f"m{n}" for n in range(100)]
    commits.add(_FakeCommit(log, "a"), batch)  # type: ignore[arg-type]
    assert report.moved == 0 and log == [], "a COMMIT under way is not counted"
    commits.add(_FakeCommit(log, "b", MsgctlError("rolled back", "STOMP ERROR")), batch)  # type: ignore[arg-type]
    assert IN_FLIGHT_COMMITS == 2 and log == ["wait a", "progress 100"] and report.moved == 100
    with pytest.raises(MsgctlError):
        commits.wait_all()
    assert report.moved == 100, "a failed COMMIT moved nothing"


def test_a_finished_journal_keeps_only_recent_confirmed_sends_to_the_same_target(tmp_path) -> None:
    import sqlite3

    from msgctl.api.redrive import check_journal

    path = tmp_path / "j.sqlite"
    with sqlite3.connect(path) as db:  # a journal written before target ids were recorded
        db.execute(
            "CREATE TABLE messages (message_id TEXT PRIMARY KEY, state TEXT NOT NULL, receipt TEXT, "
            "attempts INTEGER NOT NULL DEFAULT 0, detail TEXT, updated_at REAL NOT NULL)"
        )
    journal = Journal(path)
    journal.set_meta({"dlq": "sqs:a-dlq.fifo", "target": "sqs:a.fifo", "mode": "copy"})
    journal.received([("m1", "r1"), ("m2", "r2"), ("m3", "r3")])
    journal.mark(["m1", "m2"], "copied")
    journal.target_ids([("m1", "sqs-1")])
    journal.mark(["m1", "m2", "m3"], "released")
    journal.close()
    wanted = {"dlq": "sqs:a-dlq.fifo", "target": "sqs:a.fifo", "mode": "copy"}
    assert check_journal(path, False, wanted) == 1
    journal = Journal(path)
    assert {i: e.target_id for i, e in journal.states(["m1", "m2", "m3"]).items()} == {"m1": "sqs-1"}
    journal.close()
    assert check_journal(path, False, {**wanted, "target": "sqs:b.fifo"}) == 0 and not path.exists()


class _AnsweringTarget(FakeTarget):
    """Confirms with ids; with ``fifo``, a resend is answered with the earlier id (dropped), as SQS does."""

    def __init__(self, fifo: bool) -> None:
        super().__init__()
        self.fifo, self.ids, self.sends = fifo, {}, 0
        self.dedups = fifo

    def send(self, messages: list[Dead]) -> Delivery[Dead]:
        delivery = super().send(messages)
        for message in messages:
            self.sends += 1
            fresh = f"target-{self.sends}"
            self.ids[message.id] = self.ids.get(message.id, fresh) if self.fifo else fresh
        delivery.target_ids = [(m, self.ids[m.id]) for m in messages]
        return delivery


@pytest.mark.parametrize("fifo", [False, True])
def test_a_copy_then_a_move_within_5_minutes_never_deletes_unsent(tmp_path, fifo) -> None:
    from msgctl.api.redrive import check_journal

    source, target = FakeDlq(5), _AnsweringTarget(fifo)
    pair = {"dlq": source.channel, "target": target.channel, "mode": "copy"}
    journal = Journal(tmp_path / "journal.sqlite")
    journal.set_meta(pair)
    journal.close()
    first, _ = _run(source, target, tmp_path, copy=True)
    assert first.moved == 5 and len(source.messages) == 5
    assert check_journal(tmp_path / "journal.sqlite", False, {**pair, "mode": "move"}) == 5

    again, counts = _run(source, target, tmp_path)

    if fifo:  # the target would drop them: not sent again, they stay in the DLQ
        assert len(target.received) == 5, "not sent again"
        assert (again.moved, sorted(again.sent_recently)) == (0, sorted(source.messages))
        assert again.movable_at > time.time() + 300
        assert len(source.messages) == 5 and counts == {"released": 5}
    else:
        assert len(target.received) == 10, "sent again, not taken for already sent"
        assert (again.moved, again.sent_recently, source.messages) == (5, [], {})
    assert check_journal(tmp_path / "journal.sqlite", False, pair) == 5


class _DroppingFifo(FakeTarget):
    """A FIFO target that drops a resend of a deduplication id, answering with a new id every time."""

    dedups = True

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()
        self.sends = 0

    def send(self, messages: list[Dead]) -> Delivery[Dead]:
        fresh = [m for m in messages if m.dedup_id not in self.seen]
        self.seen |= {m.dedup_id for m in messages}
        delivery = super().send(fresh)
        self.sends += len(messages)
        delivery.target_ids = [(m, f"target-{self.sends}-{n}") for n, m in enumerate(messages)]
        return delivery


def test_a_move_back_in_the_dlq_within_5_minutes_is_held_not_deleted_unsent(tmp_path) -> None:
    from msgctl.api.redrive import check_journal

    source, target = FakeDlq(5), _DroppingFifo()
    pair = {"dlq": source.channel, "target": target.channel, "mode": "move"}
    journal = Journal(tmp_path / "journal.sqlite")
    journal.set_meta(pair)
    journal.close()
    first, _ = _run(source, target, tmp_path)
    assert first.moved == 5 and source.messages == {}
    back = FakeDlq(5)  # dead-lettered again, with the same message ids
    assert check_journal(tmp_path / "journal.sqlite", False, pair) == 5

    again, counts = _run(back, target, tmp_path)

    assert sorted(target.received) == list(range(5)), "each arrived once"
    assert len(back.messages) == 5 and back.shown == set(back.messages), "none deleted unsent"
    assert (again.moved, sorted(again.sent_recently)) == (0, sorted(back.messages))
    assert counts == {"released": 5}


def test_a_target_answering_with_the_earlier_id_is_named_as_deduplicating(tmp_path) -> None:
    import sqlite3

    source, target = FakeDlq(3), _AnsweringTarget(fifo=True)
    _run(source, target, tmp_path, copy=True)
    journal = Journal(tmp_path / "journal.sqlite")
    journal.keep_recent_sends(time.time() - 600)
    journal.close()
    with sqlite3.connect(tmp_path / "journal.sqlite") as db:  # confirmed just before the hold-back window
        db.execute("UPDATE messages SET sent_at = ?", (time.time() - 331,))

    again, counts = _run(source, target, tmp_path)

    assert len(target.received) == 6, "sent again"
    assert (again.moved, sorted(again.deduplicated_by_target)) == (0, sorted(source.messages))
    assert len(source.messages) == 3 and counts == {"released": 3}


def _reply(date: str | None, *messages: tuple[str, int]) -> dict:
    return {
        "ResponseMetadata": {"HTTPHeaders": {"date": date} if date else {}},
        "Messages": [
            {"Attributes": {"ApproximateReceiveCount": count, "ApproximateFirstReceiveTimestamp": str(at)}}
            for count, at in messages
        ],
    }


def test_the_run_start_is_the_server_time_of_the_first_receive() -> None:
    from msgctl.backends.sqs_redrive import _server_time_ms

    date = "Mon, 30 Nov 2026 19:10:17 GMT"
    second = 1796065817000
    assert _server_time_ms(_reply(date, ("1", second + 250), ("3", second - 9000))) == second + 250
    assert _server_time_ms(_reply(date, ("2", second + 250))) == second - 1, "received before: the Date"
    assert _server_time_ms(_reply(date, ("1", second - 60_000))) == second - 1, "carried over from a source"
    assert _server_time_ms(_reply(date)) == second - 1
    assert _server_time_ms(_reply(None)) is None
