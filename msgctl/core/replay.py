"""Replaying captured messages idempotently.

Every input line is read, validated and given its deduplication and group ids before the first send. The
ledger records each deduplication id as ``sending`` before its send and ``sent`` once the target confirmed
it, so a rerun skips what was sent and sends the rest. What a killed run left ``sending`` is sent again: a
FIFO target drops that resend within its 5-minute deduplication window; anywhere else it is named as a
possible duplicate. A resend of what was sent (--force) within that window is dropped by a FIFO target too:
where the target answers with the id of the earlier message (recorded in the ledger) it is named as
``deduplicated_by_target``, not counted as sent; before sending, a warning says how many ids it may drop.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from msgctl.core.ledger import Ledger, LedgerEntry
from msgctl.core.outbound import DEDUP_MARGIN_S, DEDUP_WINDOW_S, Delivery, HoldBack
from msgctl.core.pacing import Pacer
from msgctl.core.replay_ids import DEFAULT_RULE, IdRule, InvalidMessage, message_ids
from msgctl.core.workers import WorkerPool, group_lanes
from msgctl.envelope import Envelope
from msgctl.errors import UsageError
from msgctl.filter.engine import FilterPolicy
from msgctl.filter.messages import message_from_envelope

DEFAULT_CONCURRENCY = 4  # lanes by group: order within each group is kept whatever the number


@dataclass(frozen=True)
class Replayed:
    """One input message, ready to send."""

    line: int
    id: str
    envelope: Envelope
    group_id: str | None
    dedup_id: str

    def to_json(self) -> dict[str, Any]:
        return {"line": self.line, "id": self.id, "dedup_id": self.dedup_id, "group_id": self.group_id}


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


@dataclass
class ReplayReport:
    read: int = 0
    replayed: int = 0
    already_replayed: int = 0
    repeated_in_input: int = 0  # the same deduplication id as an earlier line: sent once
    filtered_out: int = 0
    skipped_invalid: list[tuple[int, str]] = field(default_factory=list)
    failed: list[tuple[Replayed, str]] = field(default_factory=list)
    possible_duplicates: list[Replayed] = field(default_factory=list)
    deduplicated_by_target: list[Replayed] = field(default_factory=list)  # accepted, dropped: not sent
    would_send: list[Replayed] = field(default_factory=list)
    partial_input: str | None = None  # the input ends with a partial-output marker: messages are missing

    def to_json(self) -> dict[str, object]:
        return {
            **({"partial_input": self.partial_input} if self.partial_input is not None else {}),
            "read": self.read,
            "replayed": self.replayed,
            "already_replayed": self.already_replayed,
            "repeated_in_input": self.repeated_in_input,
            "filtered_out": self.filtered_out,
            "skipped_invalid": [{"line": line, "reason": reason} for line, reason in self.skipped_invalid],
            "failed": [{**m.to_json(), "reason": reason} for m, reason in self.failed],
            "possible_duplicates": [
                m.to_json() for m in {m.dedup_id: m for m in self.possible_duplicates}.values()
            ],
            "deduplicated_by_target": [m.to_json() for m in self.deduplicated_by_target],
        }


def prepare(
    lines: Iterable[tuple[int, str | bytes]], plan: ReplayPlan, report: ReplayReport
) -> list[Replayed]:
    """Every message to replay, in input order; raises UsageError naming the first bad line unless
    ``plan.skip_invalid`` (then each bad line is recorded in the report)."""
    messages: list[Replayed] = []
    seen: set[str] = set()
    for number, line in lines:
        if plan.max is not None and len(messages) >= plan.max:
            break
        if not line.strip():
            continue
        partial = partial_reason(line)
        if partial is not None:
            report.partial_input = partial
            continue
        report.read += 1
        try:
            message = _message(number, line, plan)
        except (InvalidMessage, UsageError) as exc:
            reason = exc.message if isinstance(exc, UsageError) else str(exc)
            if not plan.skip_invalid:
                raise UsageError(
                    f"line {number}: {reason} (nothing was sent; --skip-invalid skips such lines)"
                ) from None
            report.skipped_invalid.append((number, reason))
            continue
        if message is None:
            report.filtered_out += 1
        elif message.dedup_id in seen:
            report.repeated_in_input += 1
        else:
            seen.add(message.dedup_id)
            messages.append(message)
    return messages


def partial_reason(line: str | bytes) -> str | None:
    """The reason a partial-output marker gives (the last record of a tail or dlq export that could not
    read every message), or None for any other line."""
    data = line.encode() if isinstance(line, str) else line
    if b'"partial"' not in data:
        return None
    try:
        raw = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    if isinstance(raw, dict) and raw.get("partial") is True and "body" not in raw:
        return str(raw.get("reason") or "the input is marked partial")
    return None


def _message(number: int, line: str | bytes, plan: ReplayPlan) -> Replayed | None:
    try:
        raw = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise InvalidMessage(f"not JSON: {exc}") from None
    envelope = Envelope.from_json(raw)
    if plan.filter is not None and not plan.filter.matches(message_from_envelope(envelope)):
        return None
    group_id, dedup_id = message_ids(envelope, plan.dedup, plan.group, plan.fifo)
    message = Replayed(number, envelope.id or f"line-{number}", envelope, group_id, dedup_id)
    if plan.check is not None:
        plan.check(message)  # a UsageError: the target cannot take it
    return message


@dataclass(frozen=True)
class ReplayOptions:
    force: bool = False
    concurrency: int = DEFAULT_CONCURRENCY
    rate: float | None = None
    dry_run: bool = False


def replay(
    messages: list[Replayed],
    target: ReplayTarget,
    ledger: Ledger | None,
    options: ReplayOptions,
    report: ReplayReport,
    progress: Callable[[int], None] = lambda _: None,
    warn: Callable[[str], None] = lambda _: None,
) -> ReplayReport:
    """Send what the ledger does not hold as sent, a lane per worker; a group stays in one lane, in order.
    ``warn`` hears, before anything is sent, of resends the target will drop."""
    known = ledger.entries(m.dedup_id for m in messages) if ledger is not None else {}
    pending = []
    for message in messages:
        entry = known.get(message.dedup_id)
        if entry is not None and entry.state == "sent" and not options.force:
            report.already_replayed += 1
            continue
        pending.append(message)
    recent = _sent_recently(pending, known, target)
    if recent:
        warn(
            f"{recent} of these deduplication ids were sent to {target.channel} less than 5 minutes ago: it "
            "accepts such a resend and drops it. One it answers with the earlier message's id is listed as "
            "deduplicated_by_target (exit 3); any other cannot be told from a message sent"
        )
    if options.dry_run:
        report.would_send = pending
        return report
    assert ledger is not None, "only a dry run goes without a ledger"
    _run_lanes(
        group_lanes(pending, options.concurrency, target.batch_size, target.ordered),
        target,
        ledger,
        known,
        options,
        report,
        progress,
    )
    return report


def _sent_recently(pending: list[Replayed], known: dict[str, LedgerEntry], target: ReplayTarget) -> int:
    """How many of ``pending`` a deduplicating target took less than its window ago (--force)."""
    if not target.dedups:
        return 0
    since = time.time() - DEDUP_WINDOW_S - DEDUP_MARGIN_S
    entries = (known.get(m.dedup_id) for m in pending)
    return sum(1 for e in entries if e is not None and e.state == "sent" and e.updated_at > since)


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
    lanes: list[list[Replayed]],
    target: ReplayTarget,
    ledger: Ledger,
    known: dict[str, LedgerEntry],
    options: ReplayOptions,
    report: ReplayReport,
    progress: Callable[[int], None],
) -> None:
    sending = {i: e for i, e in known.items() if e.state == "sending"}  # a run died sending them
    lock = threading.Lock()
    stop = threading.Event()
    pacer = Pacer(options.rate, stop)

    def work(lane: list[Replayed]) -> None:
        hold_back = HoldBack(ungrouped=target.ordered)  # a lane holds its groups whole
        for start in range(0, len(lane), target.batch_size):
            if stop.is_set():
                return
            batch = []
            for message in lane[start : start + target.batch_size]:
                if hold_back.holds(message):
                    with lock:
                        report.failed.append((message, hold_back.reason))
                else:
                    batch.append(message)
            if not batch:
                continue
            pacer.wait(len(batch))
            # Decided now, not when planning: the deduplication window runs out while a run goes on.
            again = [
                m
                for m in batch
                if m.dedup_id in sending and not _target_drops_resend(target, sending[m.dedup_id])
            ]
            ledger.sending((m.dedup_id, m.id, m.line) for m in batch)
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
            progress(len(batch))

    pool = WorkerPool(stop)
    pool.run(functools.partial(work, lane) for lane in lanes)
    pool.raise_error()
    report.failed.sort(key=lambda failure: failure[0].line)
    report.deduplicated_by_target.sort(key=lambda message: message.line)
