"""Moving dead letters back, losing nothing.

The order of every move is fixed: record ``received`` in the journal, send, record ``sent`` for each entry
the target confirmed, delete those from the DLQ, record ``deleted``. A crash anywhere leaves each message in
the DLQ, in the target, or in both, and the journal says which: ``--resume`` deletes what was sent without
sending it again, and names what may have been sent twice (a crash between send and ``sent``).

A copy (--copy) repeated into a FIFO target within 5 minutes is accepted and dropped by the target (the
same deduplication id): where the target answers with the id it gave the earlier copy, which the journal
keeps from that run, the message is named as ``deduplicated_by_target``, not counted as copied.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from msgctl.core.journal import Entry, Journal
from msgctl.core.outbound import DEDUP_MARGIN_S, DEDUP_WINDOW_S, Delivery
from msgctl.core.pacing import Pacer
from msgctl.core.payloads import Resolver, pointer_of
from msgctl.core.transform import Repaired, Repairer, TransformError, fingerprint
from msgctl.core.workers import WorkerPool
from msgctl.envelope import SUBJECT, TRACE_HEADER, Envelope, is_notification
from msgctl.errors import UsageError
from msgctl.filter.engine import FilterPolicy
from msgctl.filter.messages import message_from_envelope

log = logging.getLogger(__name__)
RECEIVE_BATCH = 10
_NOT_DELETED = "sent, but not deleted from the DLQ: {} (--resume deletes it)"
DEFAULT_HOLD_S = 120
# A receive hides its messages only this long (the heartbeat then extends what is kept to --hold): a receive
# whose reply is lost on the network hides its messages from the run no longer than this.
RECEIVE_HOLD_S = 10
HELD_WAIT_MARGIN_S = 5
MAX_ROUNDS = 3  # rounds in a row that receive nothing, though the DLQ shows visible messages


@dataclass(frozen=True)
class Dead:
    """One message received from the DLQ."""

    id: str
    receipt: str
    envelope: Envelope
    returned: bool = False  # entered the DLQ after the run started (the source says how it knows)

    @property
    def group_id(self) -> str | None:
        group = self.envelope.attributes.get("group_id")
        return group if isinstance(group, str) else None

    @property
    def dedup_id(self) -> str:
        """The same for every send of this message, so a FIFO target drops a resend."""
        return hashlib.sha256(f"msgctl-redrive:{self.id}".encode()).hexdigest()


class DeadLetterSource(Protocol):
    channel: str

    def receive(self, hold_s: int) -> list[Dead]:
        """Up to RECEIVE_BATCH messages, hidden for ``hold_s``; each marked ``returned`` when it entered the
        DLQ after this source's first receive (a message the run moved, dead-lettered again)."""

    def delete(self, messages: list[Dead]) -> list[tuple[Dead, str]]:
        """Delete; returns the messages that could not be deleted, with the reason."""

    def release(self, messages: list[Dead]) -> None: ...

    def visible(self) -> int:
        """How many messages the DLQ shows now (approximately)."""

    def hidden(self) -> int:
        """How many messages of the DLQ are held by some receive now (approximately)."""

    def extend(self, messages: list[Dead], hold_s: int) -> list[tuple[Dead, str]]:
        """Hide for ``hold_s`` more; returns those whose hold could not be extended, with the reason."""

    def delete_by_receipt(self, message_id: str, receipt: str) -> bool:
        """Delete a message sent before a crash (the receipt may have expired: then False)."""

    def release_by_receipt(self, receipts: list[str]) -> None:
        """Make messages held by a crashed run visible again (expired receipts: they already are)."""


class RedriveTarget(Protocol):
    channel: str
    fifo: bool  # every message needs a group id
    dedups: bool  # the target itself drops a resend of a deduplication id within 5 minutes

    def check(self, message: Dead) -> None:
        """Raise UsageError when the target cannot take the message (a repaired one is checked)."""

    def send(self, messages: list[Dead]) -> Delivery[Dead]:
        """Send in order; says which messages the target did not confirm (and why), and which a retried
        request may have delivered twice."""


@dataclass(frozen=True)
class Selection:
    max: int | None = None
    filter: FilterPolicy | None = None
    ids: frozenset[str] | None = None
    payloads: Resolver | None = None  # reads S3 payloads for the filter: it judges them, the pointers move

    def choose(self, messages: list[Dead]) -> tuple[list[Dead], dict[str, str]]:
        """The messages wanted, and those the filter could not judge (their payload could not be read)
        with why: they stay in the DLQ."""
        named = [m for m in messages if self.ids is None or m.id in self.ids]
        if self.filter is None:
            return named, {}
        if self.payloads is None or not any(pointer_of(m.envelope) for m in named):
            return [m for m in named if self.filter.matches(message_from_envelope(m.envelope))], {}
        chosen, unjudged = [], {}
        for message, (seen, why) in zip(
            named, self.payloads.judged([m.envelope for m in named]), strict=True
        ):
            if why is not None:
                unjudged[message.id] = f"not judged by --filter: {why}"
            elif self.filter.matches(message_from_envelope(seen)):
                chosen.append(message)
        return chosen, unjudged


@dataclass
class RedriveReport:
    moved: int = 0
    skipped: int = 0
    failed: dict[str, str] = field(default_factory=dict)  # message id -> reason
    possible_duplicates: list[str] = field(default_factory=list)
    deduplicated_by_target: list[str] = field(default_factory=list)  # accepted and dropped: not sent
    sent_recently: list[str] = field(default_factory=list)  # the target would drop a resend: not sent
    movable_at: float = 0.0  # when the target no longer drops a resend of any of ``sent_recently`` (epoch)
    cleaned_up: int = 0  # sent before a crash, deleted on --resume without sending again
    would_move: list[str] = field(default_factory=list)  # --dry-run
    repairs: list[Repaired] = field(default_factory=list)  # --dry-run with a transform: before and after
    returned: int = 0  # came (back) into the DLQ while the run went on: left there, not moved again
    still_held: int = 0  # held by a receive this run never saw, or by another consumer, at the end
    not_received: int = 0  # left visible: the run stopped receiving once it had what the DLQ held at start
    not_handed_out: int = 0  # shown by the DLQ, yet no receive handed them out (FIFO groups behind held ones)
    waited_s: float = 0.0  # how long the run waited for such messages to come back

    def to_json(self) -> dict[str, object]:
        return {
            "moved": self.moved,
            "skipped": self.skipped,
            "failed": [{"id": k, "reason": v} for k, v in sorted(self.failed.items())],
            "possible_duplicates": sorted(self.possible_duplicates),
            "deduplicated_by_target": sorted(self.deduplicated_by_target),
            "sent_recently": sorted(self.sent_recently),
            "deleted_after_resume": self.cleaned_up,
            "returned_to_dlq": self.returned,
            "still_held": self.still_held,
            "not_received": self.not_received,
            "not_handed_out": self.not_handed_out,
        }


@dataclass
class RedriveOptions:
    selection: Selection = field(default_factory=Selection)
    copy: bool = False
    dry_run: bool = False
    rate: float | None = None
    concurrency: int = 1
    hold_s: int = DEFAULT_HOLD_S
    transform: Repairer | None = None

    @property
    def receive_hold_s(self) -> int:
        return min(self.hold_s, RECEIVE_HOLD_S)


class _Shared:
    """What the workers share: the --max count, the held and in-flight messages, the rate limit."""

    def __init__(self, options: RedriveOptions) -> None:
        self.lock = threading.Lock()
        self.selected = 0
        self.received = 0  # messages received so far: a round that receives none made no progress
        # the distinct messages received so far: those the DLQ held at the start, and those that came later
        self.seen: set[str] = set()
        self.seen_returned: set[str] = set()
        self.budget: int | None = None  # receive no more once either set holds this many
        self.budget_reached = False
        self.held: dict[str, Dead] = {}  # not selected, failed, copied, or a dry run's: released at the end
        self.in_flight: dict[str, Dead] = {}  # being moved right now: their hold is extended too
        self.renew_at: dict[str, float] = {}  # message id -> when its hold is to be extended (monotonic)
        # message id -> until when this run surely holds it (monotonic): deleted later, it may have been
        # visible meanwhile, and another consumer may have received and moved it too
        self.held_until: dict[str, float] = {}
        # A message handed out again while this run holds it (SQS delivers at least once): its other
        # receipts, kept and extended with it, for SQS deletes a message only with its latest receipt.
        self.copies: dict[str, list[Dead]] = {}
        self.moved: set[str] = set()  # sent and deleted by this run: a later copy is deleted, not moved again
        self.deleted_later: set[str] = set()  # moved, then deleted with a later copy's receipt
        self.undeleted = 0  # sent, yet not deleted from the DLQ: hidden by this run till their hold ends
        self.stop = threading.Event()  # no more receives (--max reached, an error, Ctrl-C)
        self.done = threading.Event()  # the run is over: the heartbeat ends
        self.pacer = Pacer(options.rate, self.stop)
        self.limit_reached = False

    def take(self, count: int, limit: int | None) -> int:
        """How many of ``count`` selected messages may still move under --max."""
        with self.lock:
            allowed = count if limit is None else max(0, min(count, limit - self.selected))
            self.selected += allowed
            if limit is not None and self.selected >= limit:
                self.limit_reached = True
                self.stop.set()
            return allowed

    def track(self, batch: list[Dead], received_at: float, hold_s: int) -> tuple[list[Dead], list[Dead]]:
        """Just received (``received_at``: before the request, so the hold cannot have started earlier).
        Returns the messages to move, and the copies of messages this run already moved (to delete);
        a copy of a message this run still holds is kept beside it."""
        with self.lock:
            self.received += len(batch)
            fresh: dict[str, Dead] = {}
            moved: list[Dead] = []
            renew_at = received_at + hold_s / 2
            for message in batch:
                if message.id in self.moved:
                    moved.append(message)
                    continue
                if message.id in self.in_flight or message.id in self.held or message.id in fresh:
                    self.copies.setdefault(message.id, []).append(message)
                else:
                    fresh[message.id] = message
                # a copy's hold may end before its original's
                self.renew_at[message.id] = min(self.renew_at.get(message.id, renew_at), renew_at)
                self.held_until.setdefault(message.id, received_at + hold_s)
            for message_id, message in fresh.items():
                (self.seen_returned if message.returned else self.seen).add(message_id)
            self.in_flight.update(fresh)
            return list(fresh.values()), moved

    def copies_of(self, messages: list[Dead]) -> list[Dead]:
        with self.lock:
            return [copy for m in messages for copy in self.copies.get(m.id, [])]

    def keep_copies(self, copies: list[Dead]) -> None:
        with self.lock:
            for copy in copies:
                self.copies.setdefault(copy.id, []).append(copy)

    def deleted(self, messages: list[Dead], deleted_with: set[str]) -> list[Dead]:
        """``messages`` are gone from the DLQ: forget them; returns their copies received since the delete
        started (they may hold the latest receipt: to delete too)."""
        with self.lock:
            late = []
            for message in messages:
                self.in_flight.pop(message.id, None)
                self.renew_at.pop(message.id, None)
                self.held_until.pop(message.id, None)
                late += [c for c in self.copies.pop(message.id, []) if c.receipt not in deleted_with]
                self.moved.add(message.id)
            return late

    def over_budget(self) -> bool:
        """The run has received as many messages as the DLQ held at its start (and a margin), or as many
        that came in since: a DLQ that keeps receiving messages would otherwise keep it going for ever. Stops
        the other workers too. Messages that came back (a target that dead-letters what it gets) count apart,
        so they never cut short the move of what the DLQ held."""
        with self.lock:
            if self.budget is None or max(len(self.seen), len(self.seen_returned)) < self.budget:
                return False
            self.budget_reached = True
        self.stop.set()
        return True

    def hold(self, messages: Iterable[Dead]) -> None:
        with self.lock:
            for message in messages:
                self.held[message.id] = message
                self.in_flight.pop(message.id, None)

    def ours(self) -> int:
        """How many DLQ messages this run holds."""
        with self.lock:
            return len(self.held) + len(self.in_flight) + self.undeleted

    def due(self, horizon: float) -> list[Dead]:
        """The held and in-flight messages whose hold is to be extended before ``horizon``."""
        with self.lock:
            kept = [*self.held.values(), *self.in_flight.values(), *itertools.chain(*self.copies.values())]
            return [m for m in kept if self.renew_at.get(m.id, 0.0) <= horizon]

    def renewed(self, messages: list[Dead], at: float, hold_s: int, failed: set[str]) -> None:
        """Extended at ``at`` (before the request), but for the receipts in ``failed``."""
        with self.lock:
            self.renew_at.update((m.id, at + hold_s / 2) for m in messages)
            for message in messages:
                until = self.held_until.get(message.id)
                # once it may have been visible, it stays so: another consumer may have received it then
                if message.receipt not in failed and until is not None and at <= until:
                    self.held_until[message.id] = at + hold_s

    def lapsed(self, messages: list[Dead], now: float) -> list[str]:
        """The messages whose hold may have ended before ``now``."""
        with self.lock:
            return [m.id for m in messages if self.held_until.get(m.id, now) < now]


def resume(source: DeadLetterSource, journal: Journal, report: RedriveReport, copy: bool) -> None:
    """Before receiving again: delete what was sent but not yet deleted, while its receipt still works, and
    make visible again what the crashed run held without knowing whether it was sent (it is sent again, and
    named as a possible duplicate)."""
    if not copy:
        for entry in journal.in_state("sent"):
            if entry.receipt and source.delete_by_receipt(entry.message_id, entry.receipt):
                journal.mark([entry.message_id], "deleted")
                report.cleaned_up += 1
            else:  # its hold ended: another consumer of the DLQ (another redrive process) may have moved it
                report.possible_duplicates.append(entry.message_id)
    held = [e for state in ("held", "received") for e in journal.in_state(state) if e.receipt]
    copied = [e for e in journal.in_state("copied") if e.receipt] if copy else []  # done: not copied again
    if held or copied:
        source.release_by_receipt([e.receipt for e in held + copied if e.receipt])
        journal.mark([e.message_id for e in held if e.state == "held"], "released")


def redrive(
    source: DeadLetterSource,
    target: RedriveTarget,
    journal: Journal | None,
    options: RedriveOptions,
    report: RedriveReport,
    progress: Callable[[int], None] = lambda _: None,
    notify: Callable[[str], None] = log.warning,
) -> RedriveReport:
    """Move the selected messages with ``options.concurrency`` workers; release what was not moved.

    Rounds of workers go on while they receive something and the DLQ shows messages, up to as many messages
    as the DLQ held at the start and a batch a worker (what is left is counted in ``not_received``). When
    it shows none but holds some this run does not (a receive whose reply was lost, another consumer), the
    run waits for them to come back, up to one receive hold; what is still held then is counted in
    ``still_held``."""
    shared = _Shared(options)
    workers_count = max(1, options.concurrency)
    shared.budget = source.visible() + source.hidden() + RECEIVE_BATCH * workers_count
    pool = WorkerPool(shared.stop)

    def worker() -> None:
        while not shared.stop.is_set():
            shared.pacer.wait(RECEIVE_BATCH)  # before a receive: never holding received messages
            if shared.stop.is_set() or shared.over_budget():
                return
            received_at = time.monotonic()
            batch = source.receive(options.receive_hold_s)
            if not batch:
                return
            batch, moved_before = shared.track(batch, received_at, options.receive_hold_s)
            if moved_before:  # deleted with an older receipt, which SQS may answer without deleting
                _delete_again(moved_before, source, journal, report, shared)
            try:
                _move(batch, source, target, journal, options, shared, report, progress)
            except BaseException:  # released at the end; the journal keeps what the target confirmed
                shared.hold(m for m in batch if m.id in shared.in_flight)
                raise

    heartbeat = threading.Thread(target=_keep_held, args=(source, shared, options), daemon=True)
    heartbeat.start()
    try:
        idle_rounds = 0
        while True:
            received_before = shared.received
            pool.run(worker for _ in range(workers_count))  # Ctrl-C: workers finish the batch at hand
            if shared.budget_reached:
                report.not_received = source.visible()
            if shared.stop.is_set() or options.dry_run:
                break
            idle_rounds = idle_rounds + 1 if shared.received == received_before else 0
            if idle_rounds >= MAX_ROUNDS:  # shown, yet not handed out (FIFO groups behind held ones), or
                # taken by another consumer each time they come back
                if source.channel.endswith(".fifo"):  # (a standard queue's count may just lag)
                    report.not_handed_out = source.visible()
                report.still_held = max(0, source.hidden() - shared.ours())
                break
            # Messages whose hold ran out during the run (a crashed run's, say) are visible again: go on.
            if source.visible():
                continue
            if not _wait_for_held_elsewhere(source, shared, options, report, notify):
                break
    finally:
        shared.stop.set()
        shared.done.set()
        heartbeat.join()  # no extension may land after the release below
        with shared.lock:
            held = list(shared.held.values()) + list(shared.in_flight.values())
            copies = list(itertools.chain(*shared.copies.values()))
            shared.held.clear()
            shared.in_flight.clear()
            shared.copies.clear()
        source.release(held + copies)
        if journal is not None and held:
            journal.released(m.id for m in held)
    pool.raise_error()
    return report


def _wait_for_held_elsewhere(
    source: DeadLetterSource,
    shared: _Shared,
    options: RedriveOptions,
    report: RedriveReport,
    notify: Callable[[str], None],
) -> bool:
    """Wait for the DLQ messages held by a receive this run never saw (its reply was lost: they come back
    after one receive hold) or by another consumer. True when some came back (another round moves them)."""
    elsewhere = max(0, source.hidden() - shared.ours())
    if not elsewhere:
        return False
    limit = options.receive_hold_s + HELD_WAIT_MARGIN_S
    notify(
        f"{elsewhere} messages of {source.channel} are held by a receive this run did not see (a lost "
        f"reply) or by another consumer: waiting up to {limit} s for them to come back"
    )
    started = time.monotonic()
    while time.monotonic() - started < limit:
        time.sleep(min(0.5, limit / 10))
        if source.visible() or source.hidden() <= shared.ours():
            waited = time.monotonic() - started
            report.waited_s += waited
            notify(f"they came back after {waited:.1f} s")
            return True
    report.waited_s += time.monotonic() - started
    report.still_held = max(0, source.hidden() - shared.ours())
    return False


def _move(
    batch: list[Dead],
    source: DeadLetterSource,
    target: RedriveTarget,
    journal: Journal | None,
    options: RedriveOptions,
    shared: _Shared,
    report: RedriveReport,
    progress: Callable[[int], None],
) -> None:
    # A message that came (back) into the DLQ during the run is not moved again: a target that dead-letters
    # what it gets would otherwise be sent the same messages over and over.
    returned = [m for m in batch if m.returned]
    selected, unjudged = options.selection.choose([m for m in batch if not m.returned])
    wanted = len(selected) + len(unjudged)
    if unjudged and target.fifo:
        selected = _behind_unjudged(batch, selected, unjudged)
    if unjudged:
        with shared.lock:
            report.failed.update(unjudged)
    repairs: dict[str, Repaired] = {}
    if options.transform is not None:
        selected, repairs = _repair(selected, options.transform, target, report, shared)
    allowed = shared.take(len(selected), options.selection.max)
    recent = _sent_recently(selected[:allowed], target, journal, report, shared) if journal else set()
    moving = [m for m in selected[:allowed] if m.id not in recent]
    moving_ids = {m.id for m in moving}
    if journal is not None:  # the receipts of what stays held, so a resume can release it (the moving
        # ones are journaled as received, with their receipts, below)
        journal.held((m.id, m.receipt) for m in batch if options.dry_run or m.id not in moving_ids)
    shared.hold(m for m in batch if m.id not in moving_ids)
    with shared.lock:
        report.skipped += len(batch) - wanted - len(returned)
        report.returned += len(returned)
    if options.dry_run:
        shared.hold(moving)
        with shared.lock:
            report.would_move.extend(m.id for m in moving)
            report.repairs.extend(repairs[m.id] for m in moving if m.id in repairs)
        return
    if not moving:
        return
    assert journal is not None, "only a dry run goes without a journal"
    known = journal.states(m.id for m in moving)
    if options.copy:  # copied by this journal (a resumed copy): done, not copied again
        copied = [m for m in moving if known.get(m.id) and known[m.id].state == "copied"]
        journal.held((m.id, m.receipt) for m in copied)  # the new receipt (the state stays copied)
        shared.hold(copied)
        with shared.lock:
            report.skipped += len(copied)
        moving = [m for m in moving if m not in copied]
    already_sent = [m for m in moving if known.get(m.id) and known[m.id].state in ("sent", "deleted")]
    to_send = [m for m in moving if m not in already_sent]
    resent = [m.id for m in to_send if known.get(m.id) and known[m.id].state == "received"]
    journal.received((m.id, m.receipt) for m in moving)
    journal.repaired((m.id, _hashes(repairs[m.id])) for m in moving if m.id in repairs)
    delivery = target.send(to_send) if to_send else Delivery[Dead]()
    failures = {m.id: reason for m, reason in delivery.failed}
    dropped = _dropped_by_target(delivery, known)
    sent = [m for m in to_send if m.id not in failures and m.id not in dropped] + already_sent
    journal.mark([m.id for m in sent], "copied" if options.copy else "sent")
    journal.target_ids((m.id, target_id) for m, target_id in delivery.target_ids if m.id not in dropped)
    journal.mark(dropped, "deduplicated", "dropped by the target: the same deduplication id within 5 minutes")
    shared.hold(m for m in to_send if m.id in dropped)  # not sent, so it stays in the DLQ
    twice = [m.id for m in delivery.maybe_twice if m.id not in failures]
    for message in delivery.unsure:  # not confirmed, so it stays in the DLQ; but it may have arrived
        failures[message.id] += " (it may have arrived all the same: named as a possible duplicate)"
        twice.append(message.id)
    journal.mark(
        [i for i in twice if i not in failures],
        "copied" if options.copy else "sent",
        "possible duplicate: retried",
    )
    for message_id, reason in failures.items():
        journal.mark([message_id], "failed", reason)
    shared.hold(m for m in to_send if m.id in failures)
    with shared.lock:
        report.failed.update(failures)
        report.possible_duplicates.extend(i for i in resent if i not in failures and i not in dropped)
        report.possible_duplicates.extend(i for i in twice if i not in dropped)
        report.deduplicated_by_target.extend(dropped)
    if options.copy:
        shared.hold(sent)
        with shared.lock:
            report.moved += len(sent)
        progress(len(sent))
        return
    undeleted = _delete(sent, source, journal, shared, report)
    journal.mark([m.id for m in sent if m.id not in undeleted], "deleted")
    with shared.lock:
        report.moved += len(sent)
    progress(len(sent))


def _behind_unjudged(batch: list[Dead], selected: list[Dead], unjudged: dict[str, str]) -> list[Dead]:
    """On a FIFO target, a selected message behind one of its group the filter could not judge stays in
    the DLQ too (added to ``unjudged``), so the group arrives in order."""
    chosen, broken, kept = {m.id for m in selected}, set(), []
    for message in batch:
        if message.id in unjudged and message.group_id is not None:
            broken.add(message.group_id)
        elif message.id in chosen and message.group_id in broken:
            unjudged[message.id] = "held back: an earlier message of its group was not judged by --filter"
        elif message.id in chosen:
            kept.append(message)
    return kept


def _repair(
    selected: list[Dead], transform: Repairer, target: RedriveTarget, report: RedriveReport, shared: _Shared
) -> tuple[list[Dead], dict[str, Repaired]]:
    """The selected messages as the program leaves them, checked against the target's rules. A message
    the program selects out is skipped; one it cannot repair, or repairs into one the target refuses, fails;
    both stay in the DLQ (held to the end of the run)."""
    repaired: list[Dead] = []
    repairs: dict[str, Repaired] = {}
    skipped, failed = 0, {}
    broken: set[str] = set()  # groups with a message not repaired: the rest of the group stays, in order
    for message in selected:
        if target.fifo and message.group_id is not None and message.group_id in broken:
            failed[message.id] = "held back: an earlier message of its group was not repaired"
            continue
        try:
            repair = transform.apply(message.envelope)
            if repair.envelope is None:
                skipped += 1
                continue
            fixed = Dead(message.id, message.receipt, repair.envelope, message.returned)
            _refuse_unsent_changes(message, fixed, target)
            target.check(fixed)
        except TransformError as exc:
            failed[message.id] = f"not repaired: {exc}"
        except UsageError as exc:
            failed[message.id] = f"repaired into a message {target.channel} refuses: {exc.message}"
        else:
            repairs[message.id] = repair
            repaired.append(fixed)
            continue
        if message.group_id is not None:
            broken.add(message.group_id)
    with shared.lock:
        report.skipped += skipped
        report.failed.update(failed)
    return repaired, repairs


def _refuse_unsent_changes(message: Dead, fixed: Dead, target: RedriveTarget) -> None:
    """Raise UsageError for a change the target would not carry: a message would arrive otherwise than the
    program says, without a word. (An attribute the target does not take may be left out.)"""
    sns = target.channel.startswith("sns:")
    settable = {*(["group_id"] if target.fifo else []), SUBJECT if sns else TRACE_HEADER}
    before, after = message.envelope.attributes, fixed.envelope.attributes
    for key in sorted(before.keys() | after.keys()):
        if key not in settable and after.get(key) is not None and before.get(key) != after.get(key):
            raise UsageError(f"attributes.{key} cannot be set here (only {', '.join(sorted(settable))})")
    if target.fifo and message.group_id and not fixed.group_id:
        raise UsageError("the program removed its group id (attributes.group_id)")
    if sns and _only_the_wrapper_changed(message.envelope.text, fixed.envelope.text):
        raise UsageError(
            "its body is an SNS notification (a non-raw subscription's): the topic is sent the Message, "
            "MessageAttributes and Subject inside it, which the program left as they were"
        )


def _only_the_wrapper_changed(before: str | None, after: str | None) -> bool:
    """Both bodies are SNS notifications that differ, but not in what a topic is sent of them."""
    if before == after or not is_notification(before) or not is_notification(after):
        return False
    sent = ("Message", "MessageAttributes", "Subject")
    old, new = json.loads(before or ""), json.loads(after or "")
    return all(old.get(key) == new.get(key) for key in sent)


def _hashes(repair: Repaired) -> str:
    after = fingerprint(repair.envelope) if repair.envelope is not None else "-"
    return f"{fingerprint(repair.before)} {after}"


def _delete(
    sent: list[Dead], source: DeadLetterSource, journal: Journal, shared: _Shared, report: RedriveReport
) -> set[str]:
    """Delete sent messages with every receipt the run was given for them; returns those not deleted. SQS
    deletes a message only with its latest receipt, answers an older one with success, and which one is the
    latest is not known here: a message counts as deleted only when no receipt's delete failed."""
    receipts = sent + shared.copies_of(sent)
    failures = source.delete(receipts)
    _lapsed(shared.lapsed(sent, time.monotonic()), journal, shared, report)
    late = shared.deleted(sent, {m.receipt for m in receipts})
    try:
        failures += source.delete(late) if late else []
    except BaseException:
        shared.keep_copies(late)  # released at the end
        raise
    undeleted = dict((m.id, reason) for m, reason in failures)
    _not_deleted(undeleted, receipts + late, journal, shared, report)
    return set(undeleted)


def _lapsed(message_ids: list[str], journal: Journal, shared: _Shared, report: RedriveReport) -> None:
    """Sent and deleted after this run's hold on them may have ended: another consumer of the DLQ (another
    redrive process) may have received and sent them too."""
    if not message_ids:
        return
    journal.mark(message_ids, "sent", "possible duplicate: its hold may have ended before it was deleted")
    with shared.lock:
        report.possible_duplicates.extend(i for i in message_ids if i not in report.possible_duplicates)


def _delete_again(
    copies: list[Dead],
    source: DeadLetterSource,
    journal: Journal | None,
    report: RedriveReport,
    shared: _Shared,
) -> None:
    """Copies of messages the run already moved, received since: deleted, never sent again."""
    failures = dict((m.id, reason) for m, reason in source.delete(copies))
    deleted = {m.id for m in copies if m.id not in failures}
    with shared.lock:
        shared.deleted_later |= deleted
        for message_id in deleted & set(report.failed):  # no earlier receipt deleted it; this one did
            report.failed.pop(message_id)
            shared.undeleted -= 1
    if journal is not None:
        journal.mark(sorted(deleted), "deleted")
    _not_deleted(failures, copies, journal, shared, report)


def _not_deleted(
    failures: dict[str, str],
    receipts: list[Dead],
    journal: Journal | None,
    shared: _Shared,
    report: RedriveReport,
) -> None:
    """Sent, yet maybe still in the DLQ: reported, and journaled as sent with the newest receipt the run
    has, which --resume deletes it with."""
    if not failures:
        return
    newest = {m.id: m.receipt for m in receipts}
    if journal is not None:
        journal.held((message_id, newest[message_id]) for message_id in failures)
        journal.mark(failures, "sent")
    with shared.lock:
        for message_id, reason in failures.items():
            if message_id not in shared.deleted_later and message_id not in report.failed:
                report.failed[message_id] = _NOT_DELETED.format(reason)
                shared.undeleted += 1


def _sent_recently(
    messages: list[Dead], target: RedriveTarget, journal: Journal, report: RedriveReport, shared: _Shared
) -> set[str]:
    """The messages a deduplicating target confirmed less than its window (and a margin) ago: it would
    accept a resend and drop it, whatever id it answers with, so they are not sent again but held."""
    if not target.dedups or not messages:
        return set()
    since = time.time() - DEDUP_WINDOW_S - DEDUP_MARGIN_S
    known = journal.states(m.id for m in messages)
    recent = {
        i: entry
        for i, entry in known.items()
        if entry.state not in ("sent", "deleted", "copied") and entry.confirmed_since(since)
    }
    if recent:
        journal.mark(recent, "held", "sent to the target less than 5 minutes ago: not sent again")
        with shared.lock:
            report.sent_recently.extend(recent)
            ends = [(e.sent_at or time.time()) + DEDUP_WINDOW_S + DEDUP_MARGIN_S for e in recent.values()]
            report.movable_at = max([report.movable_at, *ends])
    return set(recent)


def _dropped_by_target(delivery: Delivery[Dead], known: dict[str, Entry]) -> set[str]:
    """The messages the target confirmed with the id it gave an earlier copy: it dropped these sends."""
    return {
        message.id
        for message, target_id in delivery.target_ids
        if (entry := known.get(message.id)) is not None and entry.target_id == target_id
    }


def _keep_held(source: DeadLetterSource, shared: _Shared, options: RedriveOptions) -> None:
    """Extend the visibility of held and in-flight messages before it runs out (a receive's short hold
    first, then --hold each time), until the run is over. An error here is reported by the messages'
    reappearing at worst, never by killing the run."""
    tick = options.receive_hold_s / 4
    while not shared.done.wait(tick):
        now = time.monotonic()
        due = shared.due(now + tick)
        if due:
            try:
                failed = source.extend(due, options.hold_s) or []
                shared.renewed(due, now, options.hold_s, {m.receipt for m, _ in failed})
            except Exception as exc:
                log.warning("could not extend the hold of %d messages: %s", len(due), exc)
