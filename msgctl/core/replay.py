"""Replaying captured messages idempotently.

Every input line is read, validated and given its deduplication and group ids before the first send (a
first pass over the input, ``replay_scan``); a second pass reads the messages again and sends them as they
come, so memory stays flat whatever the input's size. The
ledger records each deduplication id as ``sending`` before its send and ``sent`` once the target confirmed
it, so a rerun skips what was sent and sends the rest. What a killed run left ``sending`` is sent again: a
FIFO target drops that resend within its 5-minute deduplication window; anywhere else it is named as a
possible duplicate. A resend of what was sent (--force) within that window is dropped by a FIFO target too:
where the target answers with the id of the earlier message (recorded in the ledger) it is named as
``deduplicated_by_target``, not counted as sent; before sending, a warning says how many ids it may drop.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple, Protocol, TypeVar

import orjson

from msgctl.core.ledger import Ledger, LedgerEntry
from msgctl.core.outbound import DEDUP_MARGIN_S, DEDUP_WINDOW_S, Delivery, HoldBack
from msgctl.core.pacing import Pacer
from msgctl.core.payloads import PayloadError, Resolver, failure, pointer_candidate
from msgctl.core.replay_ids import DEFAULT_RULE, IdRule, InvalidMessage, message_ids
from msgctl.core.replay_input import ReplayInput
from msgctl.core.replay_scan import FILTERED, MESSAGE, REPEATED, BadLine, OnBatch, Scan, ScanRules, scan
from msgctl.core.transform import Repaired, Transform, TransformError, fingerprint, readable
from msgctl.core.workers import LaneDealer, WorkerPool, run_in_lanes
from msgctl.envelope import Envelope
from msgctl.errors import UsageError
from msgctl.filter.engine import FilterPolicy
from msgctl.filter.messages import message_from_envelope

DEFAULT_CONCURRENCY = 4  # lanes by group: order within each group is kept whatever the number
LEDGER_BATCH = 500  # messages looked up in the ledger at once
PREVIEW_ENDS = 5  # a dry run shows the first and the last few messages
GROUPS_COUNTED = 100_000  # a dry run counts the messages of this many groups (memory), then the rest together
GROUPS_SHOWN = 10
NO_GROUP, OTHER_GROUPS = "(no group)", "(other groups)"
PARTIAL_HINT = b'"partial"'  # in every partial-output marker
NOT_REPAIRED = "not repaired: "  # a line the program could not repair: left unsent, the rest is sent
NOT_JUDGED = "not judged by --filter: "  # its S3 payload could not be read: left unsent, the rest is sent


class Replayed(NamedTuple):
    """One input message, ready to send (a tuple: made once a line, twice a replay)."""

    line: int
    id: str
    envelope: Envelope
    group_id: str | None
    dedup_id: str
    repair: Repaired | None = None  # with a transform: the message as read and as the program left it

    def to_json(self) -> dict[str, Any]:
        document = self.planned()._asdict()
        if self.repair is not None:
            document |= {"before": readable(self.repair.before), "after": readable(self.repair.envelope)}
        return document

    def repair_hashes(self) -> str | None:
        """What the ledger keeps of a repair: short hashes of the program, the message before and after."""
        if self.repair is None:
            return None
        return f"{self.repair.program} {fingerprint(self.repair.before)} {fingerprint(self.envelope)}"

    def planned(self) -> Planned:
        return Planned(self.line, self.id, self.dedup_id, self.group_id)


class Planned(NamedTuple):
    """What a dry run keeps of a message: one small object (a dry run's memory and its collector's work)."""

    line: int
    id: str
    dedup_id: str
    group_id: str | None

    def to_json(self) -> dict[str, Any]:
        return self._asdict()


class ReplayTarget(Protocol):
    channel: str
    fifo: bool  # every message needs a group id
    dedups: bool  # the target itself drops a resend of a deduplication id within 5 minutes
    ordered: bool  # consumers see the order sent (FIFO, ActiveMQ), so group-less messages stay in one lane
    batch_size: int

    def check(self, message: Replayed) -> None:
        """Raise UsageError when this target cannot take the message (checked before anything is sent)."""

    def send(self, messages: list[Replayed]) -> Delivery[Replayed]:
        """Send in order; says which messages the target did not confirm (and why), and which a retried
        request may have delivered twice. Once a message of a group failed, the rest of its group in this
        call is not sent (and comes back as failed)."""


@dataclass(frozen=True)
class ReplayPlan:
    """How input lines become messages to send."""

    dedup: IdRule = DEFAULT_RULE
    group: IdRule = DEFAULT_RULE
    fifo: bool = False
    filter: FilterPolicy | None = None
    max: int | None = None
    skip_invalid: bool = False
    check: Callable[[Replayed], None] | None = None  # the target's own check of a message
    transform: Transform | None = None  # repairs each message (after the filter, before its ids)
    payloads: Resolver | None = None  # reads S3 payloads for the filter (the pointer is what is sent)


@dataclass
class Preview:
    """What a dry run would send: how many, by group, and the first and last few (not one row a message)."""

    count: int = 0
    by_group: Counter[str] = field(default_factory=Counter)  # up to GROUPS_COUNTED groups, then OTHER_GROUPS
    first: list[Replayed | Planned] = field(default_factory=list)
    last: deque[Replayed | Planned] = field(default_factory=lambda: deque(maxlen=PREVIEW_ENDS))

    def add(self, message: Replayed | Planned) -> None:
        self.count += 1
        group, by_group = message.group_id or NO_GROUP, self.by_group
        if group in by_group:  # (most messages: their group is counted already; this runs once a message)
            by_group[group] += 1
        else:
            self._count_group(group, 1)
        if len(self.first) < PREVIEW_ENDS:
            self.first.append(message)
        else:
            self.last.append(message)

    def merge(self, later: Preview, lines_before: int) -> None:
        """Add the preview of the messages after these (a range of the input numbered from 1)."""
        self.count += later.count
        for group, count in later.by_group.items():
            self._count_group(group, count)
        # Each holds its own first and last few: the first and last few of both are among them.
        shifted = [_renumbered(m, lines_before) for m in (*later.first, *later.last)]
        ends = [*self.first, *self.last, *shifted]
        self.first, self.last = ends[:PREVIEW_ENDS], deque(ends[PREVIEW_ENDS:], maxlen=PREVIEW_ENDS)

    def _count_group(self, group: str, count: int) -> None:
        """Up to GROUPS_COUNTED groups by name (memory), the rest together."""
        if group in self.by_group or len(self.by_group) < GROUPS_COUNTED:
            self.by_group[group] += count
        else:
            self.by_group[OTHER_GROUPS] += count

    def to_json(self) -> dict[str, object]:
        groups = [name for name in self.by_group if name not in (NO_GROUP, OTHER_GROUPS)]
        return {
            "would_send": self.count,
            "groups": len(groups) if OTHER_GROUPS not in self.by_group else f"more than {len(groups)}",
            "largest_groups": dict(self.by_group.most_common(GROUPS_SHOWN)),
            "first": [m.to_json() for m in self.first],
            "last": [m.to_json() for m in self.last],
        }


def message_name(envelope_id: str | None, line: int) -> str:
    """A message's id, or for an envelope without one its line."""
    return envelope_id or f"line-{line}"


def _renumbered(message: Replayed | Planned, lines_before: int) -> Replayed | Planned:
    """A message of a range, numbered by its line in the whole input."""
    line = message.line + lines_before
    if isinstance(message, Replayed):
        return message._replace(line=line, id=message_name(message.envelope.id, line))
    return message._replace(line=line)  # (the dry run's ledger tally, which takes the input in one range)


@dataclass
class ReplayReport:
    read: int = 0
    replayed: int = 0
    already_replayed: int = 0
    repeated_in_input: int = 0  # the same deduplication id as an earlier line: sent once
    filtered_out: int = 0
    skipped_invalid: list[tuple[int, str]] = field(default_factory=list)
    unrepaired: list[tuple[int, str]] = field(default_factory=list)  # lines the program failed on: not sent
    unjudged: list[tuple[int, str]] = field(
        default_factory=list
    )  # payloads the filter could not read: not sent
    failed: list[tuple[Replayed, str]] = field(default_factory=list)
    possible_duplicates: list[Replayed] = field(default_factory=list)
    deduplicated_by_target: list[Replayed] = field(default_factory=list)  # accepted, dropped: not sent
    planned: int = 0  # distinct messages the input holds (the ledger may hold some as sent)
    preview: Preview = field(default_factory=lambda: Preview())  # a dry run: what it would send
    partial_input: str | None = None  # the input ends with a partial-output marker: messages are missing
    payloads_stored: int = 0  # bodies put in S3 (--payload-bucket) for messages the target confirmed

    def to_json(self) -> dict[str, object]:
        return {
            **({"partial_input": self.partial_input} if self.partial_input is not None else {}),
            **({"payloads_stored": self.payloads_stored} if self.payloads_stored else {}),
            "read": self.read,
            "replayed": self.replayed,
            "already_replayed": self.already_replayed,
            "repeated_in_input": self.repeated_in_input,
            "filtered_out": self.filtered_out,
            "skipped_invalid": [{"line": line, "reason": reason} for line, reason in self.skipped_invalid],
            "unrepaired": [{"line": line, "reason": reason} for line, reason in self.unrepaired],
            **(
                {"unjudged": [{"line": n, "reason": reason} for n, reason in self.unjudged]}
                if self.unjudged
                else {}
            ),
            "failed": [{**m.to_json(), "reason": reason} for m, reason in self.failed],
            "possible_duplicates": [
                m.to_json() for m in {m.dedup_id: m for m in self.possible_duplicates}.values()
            ],
            "deduplicated_by_target": [m.to_json() for m in self.deduplicated_by_target],
        }


def prepare(
    source: ReplayInput,
    plan: ReplayPlan,
    report: ReplayReport,
    on_batch: OnBatch[Replayed] | None = None,
    on_message: Callable[[Replayed], None] | None = None,
    preview: bool = False,
) -> Scan:
    """The first pass: checks every line and counts them into ``report``; raises UsageError naming the first
    bad line unless ``plan.skip_invalid`` (then each bad line is recorded in the report). ``on_batch``
    hears the messages a batch at a time, ``on_message`` one at a time, as ``scan`` says; with ``preview``
    the scan's tally is the Preview of the messages it took."""
    tally = Preview if preview else None
    rules = ScanRules(_line_check(plan), partial_reason, plan.skip_invalid, tally, PARTIAL_HINT)
    resolver = plan.payloads if plan.filter is not None else None
    try:
        found = scan(
            source,
            rules,
            plan.max,
            on_batch,
            on_message,
            # the filter reads payloads from S3, several at a time (and one process, which holds the client)
            lines_through=(lambda lines: resolver.prefetch(lines, _line_envelope)) if resolver else None,
        )
    except BadLine as exc:
        raise UsageError(
            f"line {exc.number}: {exc.reason} (nothing was sent; --skip-invalid skips such lines)"
        ) from None
    report.read = found.read
    report.filtered_out = found.count(FILTERED)
    report.repeated_in_input = found.count(REPEATED)
    report.skipped_invalid = [
        (n, reason) for n, reason in found.invalid if not reason.startswith((NOT_REPAIRED, NOT_JUDGED))
    ]
    report.unrepaired = [(n, reason) for n, reason in found.invalid if reason.startswith(NOT_REPAIRED)]
    report.unjudged = [(n, reason) for n, reason in found.invalid if reason.startswith(NOT_JUDGED)]
    report.partial_input = found.partial
    report.planned = found.count(MESSAGE)
    return found


def _line_check(plan: ReplayPlan) -> Callable[[int, bytes], Replayed | None]:
    """The first pass's check of a line: its message, None when filtered out, BadLine saying why it is bad."""
    read = message_reader(plan)

    def check(number: int, line: bytes) -> Replayed | None:
        try:
            return read(number, line)
        except InvalidMessage as exc:
            raise BadLine(str(exc)) from None
        except UsageError as exc:
            raise BadLine(exc.message) from None
        except TransformError as exc:  # that message stays unsent, the rest goes: never a reason to stop
            raise BadLine(f"{NOT_REPAIRED}{exc}", skipped=True) from None
        except PayloadError as exc:  # the same: its payload could not be read for the filter
            raise BadLine(f"{NOT_JUDGED}{exc}", skipped=True) from None

    return check


def planned(source: ReplayInput, found: Scan, plan: ReplayPlan) -> Iterator[Replayed]:
    """The second pass: the messages to replay, in input order."""
    read = message_reader(replace(plan, filter=None, check=None))  # the first pass has done both
    for number, line in source.lines():
        if number > found.last_line:
            return
        if found.kinds[number - 1] != MESSAGE:
            continue
        try:
            message = read(number, line)
        except (InvalidMessage, UsageError):
            message = None
        if message is None:
            raise UsageError(
                f"{source.name} changed while it was replayed (line {number} is not what it was)"
            )
        yield message


def partial_reason(line: str | bytes) -> str | None:
    """The reason a partial-output marker gives (the last record of a tail or dlq export that could not
    read every message), or None for any other line."""
    data = line.encode() if isinstance(line, str) else line
    if PARTIAL_HINT not in data:
        return None
    try:
        raw = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    if isinstance(raw, dict) and raw.get("partial") is True and "body" not in raw:
        return str(raw.get("reason") or "the input is marked partial")
    return None


def message_reader(plan: ReplayPlan) -> Callable[[int, str | bytes], Replayed | None]:
    """Makes a line's message (None when the filter leaves it out); InvalidMessage or UsageError say why a
    line cannot be replayed. (What it calls is bound once: it runs once a line, twice a replay.)"""
    loads, from_json, new_message = orjson.loads, Envelope.from_json, Replayed._make
    policy, target_check, dedup, group, fifo = plan.filter, plan.check, plan.dedup, plan.group, plan.fifo
    transform, payloads = plan.transform, plan.payloads

    def read(number: int, line: str | bytes) -> Replayed | None:
        try:
            raw = loads(line)
        except orjson.JSONDecodeError as exc:
            raise InvalidMessage(f"not JSON: {exc}") from None
        envelope = from_json(raw)
        if policy is not None and not policy.matches(message_from_envelope(_judged(envelope, payloads))):
            return None
        repair = None
        if transform is not None:  # TransformError: this message cannot be repaired
            repair = transform.apply(envelope)
            if repair.envelope is None:
                return None  # selected out by the program
            envelope = repair.envelope
        group_id, dedup_id = message_ids(envelope, dedup, group, fifo)  # of the message as sent
        name = message_name(envelope.id, number)
        message = new_message((number, name, envelope, group_id, dedup_id, repair))
        if target_check is not None:
            target_check(message)  # a UsageError: the target cannot take it
        return message

    return read


def _line_envelope(item: tuple[int, bytes]) -> Envelope | None:
    return pointer_candidate(item[1])


def _judged(envelope: Envelope, payloads: Resolver | None) -> Envelope:
    """What the filter judges: the message with its S3 payload read in (PayloadError when it cannot be)."""
    if payloads is None:
        return envelope
    seen = payloads.resolve(envelope)
    why = failure(seen)
    if why is not None:
        raise PayloadError(why)
    return seen


@dataclass(frozen=True)
class ReplayOptions:
    force: bool = False
    concurrency: int = DEFAULT_CONCURRENCY
    rate: float | None = None
    dry_run: bool = False


def replay(
    messages: Iterable[Replayed],
    target: ReplayTarget,
    ledger: Ledger | None,
    options: ReplayOptions,
    report: ReplayReport,
    progress: Callable[[int], None] = lambda _: None,
    on_would_send: Callable[[Replayed], None] | None = None,
) -> ReplayReport:
    """Send what the ledger does not hold as sent, as the messages are read, a lane per worker; a group
    stays in one lane, in order. A dry run sends nothing: ``report.preview`` sums up what it would send, and
    ``on_would_send`` hears each such message."""
    unsent = _unsent(messages, ledger, options, report, progress)
    if options.dry_run:
        for message, _ in unsent:
            report.preview.add(message)
            if on_would_send is not None:
                on_would_send(message)
        return report
    assert ledger is not None, "only a dry run goes without a ledger"
    _run_lanes(unsent, target, ledger, options, report, progress)
    report.failed.sort(key=lambda failure: failure[0].line)
    report.deduplicated_by_target.sort(key=lambda message: message.line)
    return report


Pending = tuple[Replayed, LedgerEntry | None]  # a message and what the ledger held for it
M = TypeVar("M", Replayed, Planned)


class DryRunTally:
    """A dry run's report taken as the first pass goes, a message at a time, so a dry run reads its input
    once. It holds only when the pass took no message that turned out a repeat or past --max
    (``Scan.settled_late``); else ``replay`` reads the messages again."""

    def __init__(self, ledger: Ledger | None, report: ReplayReport) -> None:
        self._ledger, self._report = ledger, report
        self._waiting: list[Planned] = []
        self._options = ReplayOptions(dry_run=True)

    def add(self, message: Replayed) -> None:
        if self._ledger is None:
            self._report.preview.add(message)
            return
        self._waiting.append(message.planned())
        if len(self._waiting) >= LEDGER_BATCH:
            self.flush()

    def flush(self) -> None:
        for message, _ in _unsent(self._waiting, self._ledger, self._options, self._report, lambda _: None):
            self._report.preview.add(message)
        self._waiting = []


def _unsent(
    messages: Iterable[M],
    ledger: Ledger | None,
    options: ReplayOptions,
    report: ReplayReport,
    progress: Callable[[int], None],
) -> Iterator[tuple[M, LedgerEntry | None]]:
    """The messages to send, with their ledger entries: one the ledger holds as sent is skipped (unless
    --force)."""
    iterator = iter(messages)
    while chunk := list(itertools.islice(iterator, LEDGER_BATCH)):
        known = ledger.entries(m.dedup_id for m in chunk) if ledger is not None else {}
        skipped = 0
        for message in chunk:
            entry = known.get(message.dedup_id)
            if entry is not None and entry.state == "sent" and not options.force:
                skipped += 1
                continue
            yield message, entry
        if skipped:
            report.already_replayed += skipped
            progress(skipped)


class RecentSends:
    """Finds, among the first pass's messages, the ids a deduplicating target took less than its window ago
    (a --force resend it will drop), so the replay can warn before it sends anything."""

    def __init__(self, ledger: Ledger | None, target: ReplayTarget, force: bool) -> None:
        self._first_lines: dict[str, int] = {}  # each such id, and the first line that has it
        self._since = time.time() - DEDUP_WINDOW_S - DEDUP_MARGIN_S
        self._ledger = (
            ledger if force and target.dedups and ledger and ledger.sent_since(self._since) else None
        )

    @property
    def active(self) -> bool:
        """Whether the ledger holds any such send (else there is nothing to count)."""
        return self._ledger is not None

    def __call__(self, messages: list[Replayed]) -> None:
        if self._ledger is None:
            return
        lines = {m.dedup_id: m.line for m in reversed(messages)}  # (reversed: the first line of an id stays)
        for dedup_id, entry in self._ledger.entries(lines).items():
            if entry.state == "sent" and entry.updated_at > self._since:
                self._first_lines.setdefault(dedup_id, lines[dedup_id])

    def count(self, found: Scan) -> int:
        """How many of the ids to replay are such (a repeat is sent once; lines past --max not at all)."""
        return sum(1 for line in self._first_lines.values() if line <= found.last_line)


def _dropped_by_target(delivery: Delivery[Replayed], known: dict[str, LedgerEntry]) -> list[Replayed]:
    """Confirmed with the id the target gave an earlier send of the same deduplication id: the target
    dropped this one as a duplicate."""
    return [
        message
        for message, target_id in delivery.target_ids
        if (entry := known.get(message.dedup_id)) is not None and entry.target_id == target_id
    ]


def _target_drops_resend(target: ReplayTarget, entry: LedgerEntry) -> bool:
    return target.dedups and time.time() - entry.updated_at < DEDUP_WINDOW_S - DEDUP_MARGIN_S


def _run_lanes(
    pending: Iterable[Pending],
    target: ReplayTarget,
    ledger: Ledger,
    options: ReplayOptions,
    report: ReplayReport,
    progress: Callable[[int], None],
) -> None:
    lock = threading.Lock()
    stop = threading.Event()
    pacer = Pacer(options.rate, stop)
    hold_backs: dict[int, HoldBack] = {}

    def work(items: list[Pending]) -> None:
        # A lane holds its groups whole: one hold-back per worker thread, which is one lane.
        hold_back = hold_backs.setdefault(threading.get_ident(), HoldBack(ungrouped=target.ordered))
        known = {m.dedup_id: entry for m, entry in items if entry is not None}
        sending = {i: e for i, e in known.items() if e.state == "sending"}  # a run died sending them
        batch = []
        for message, _ in items:
            if hold_back.holds(message):
                with lock:
                    report.failed.append((message, hold_back.reason))
            else:
                batch.append(message)
        if not batch:
            return
        pacer.wait(len(batch))
        # Decided now, not when planning: the deduplication window runs out while a run goes on.
        again = [
            m
            for m in batch
            if m.dedup_id in sending and not _target_drops_resend(target, sending[m.dedup_id])
        ]
        ledger.sending((m.dedup_id, m.id, m.line, m.repair_hashes()) for m in batch)
        delivery = target.send(batch)
        failed_ids = {m.dedup_id for m, _ in delivery.failed}
        unsure_ids = {m.dedup_id for m in delivery.unsure}
        dropped = _dropped_by_target(delivery, known)
        dropped_ids = {m.dedup_id for m in dropped}
        target_ids = {m.dedup_id: target_id for m, target_id in delivery.target_ids}
        # A dropped resend leaves the ledger as the earlier send made it (its time, its id).
        ledger.sent(
            (m.dedup_id, target_ids.get(m.dedup_id))
            for m in batch
            if m.dedup_id not in failed_ids | dropped_ids
        )
        # A refused message was not sent: a rerun sends it fresh. One that may have arrived (and
        # one a dead run left) keeps its "sending", so a rerun names it.
        ledger.forget(i for i in failed_ids - unsure_ids if i not in sending)
        for message, _ in delivery.failed:
            hold_back.fail(message)
        with lock:
            report.replayed += len(batch) - len(failed_ids) - len(dropped_ids)
            report.failed.extend(delivery.failed)
            report.deduplicated_by_target.extend(dropped)
            report.possible_duplicates.extend(
                m
                for m in [*again, *delivery.maybe_twice]
                if m.dedup_id not in (failed_ids - unsure_ids) | dropped_ids
            )
        progress(len(items))

    pool = WorkerPool(stop)
    dealer = LaneDealer(options.concurrency, target.batch_size, target.ordered)
    run_in_lanes(pool, pending, lambda item: item[0].group_id, dealer, work)
    pool.raise_error()
