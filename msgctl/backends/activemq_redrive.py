"""ActiveMQ dead letters moved back inside STOMP transactions: the SEND to the target and the ACK of the
DLQ message commit together (a receipt confirms the COMMIT), so a crash can neither lose nor double them."""

from __future__ import annotations

import collections
import contextlib
import queue
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from msgctl.address import Channel
from msgctl.backends.activemq import BROWSE_CAP, ActiveMqBackend, epoch_ms, refuse_passed_expiry
from msgctl.backends.activemq_tail import envelope_from_frame
from msgctl.backends.stomp_session import Frame, PendingReceipt, body_headers, is_bytes_message
from msgctl.core.journal import Journal
from msgctl.core.transform import Repaired, Repairer, TransformError
from msgctl.envelope import Envelope
from msgctl.errors import MsgctlError, UsageError
from msgctl.filter.engine import FilterPolicy
from msgctl.filter.messages import message_from_envelope
from msgctl.filter.selector import NoSelectorEquivalent, to_selector

TRANSACTION_SIZE = 100
# a dead letter, its destination, the headers and the body to resend it with
Outgoing = tuple[Frame, str, dict[str, str], bytes]
# Transactions committed but not yet confirmed: the broker writes one while the next is sent. The prefetch
# covers them, so the next batch is delivered before the previous COMMIT is confirmed.
IN_FLIGHT_COMMITS = 2
PREFETCH = TRANSACTION_SIZE * IN_FLIGHT_COMMITS
CAPPED = f"the broker browses at most {BROWSE_CAP} messages: run again for the rest"
# JMSXGroupID is never shown on a delivered frame: a message keeps its group only where msgctl_group
# (set by msgctl next to it) says which. The rest stays in the DLQ, named, rather than lose its group.
GROUP_KNOWN = "(JMSXGroupID IS NULL OR JMSXGroupID = msgctl_group)"
GROUP_UNKNOWN = "(JMSXGroupID IS NOT NULL AND (msgctl_group IS NULL OR JMSXGroupID <> msgctl_group))"
GROUP_LEFT = (
    "its message group (JMSXGroupID) cannot be read over STOMP and no msgctl_group names it: left in the DLQ"
)
IDLE_S = 0.3  # the broker dispatches the next batch within milliseconds of a COMMIT
# Headers the broker or the dead-lettering set: never copied to the message sent back.
DLQ_HEADERS = frozenset(
    {
        "original-destination",
        "dlqDeliveryFailureCause",
        "originalExpiration",
        "message-id",
        "destination",
        "subscription",
        "ack",
        "redelivered",
        "timestamp",
        "expires",
        "content-length",
        "amq-msg-type",
        "receipt",
        "transaction",
        "JMSXDeliveryCount",
        "persistent",
    }
)


@dataclass
class AmqRedriveReport:
    moved: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    would_move: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    already_copied: int = 0  # --copy: the journal says an earlier run copied them
    skipped: int = 0  # selected out by the transform (left in the DLQ)
    repairs: list[Repaired] = field(default_factory=list)  # with a transform: each message before and after
    possible_duplicates: list[str] = field(default_factory=list)
    browsed: int | None = None  # --copy: how many messages the broker's browse showed
    stalled: bool = False  # so many were left unacked that the broker may have handed out no more
    left: int = 0  # messages handed out, neither moved nor acked (skipped or failed): back in the DLQ

    def to_json(self) -> dict[str, object]:
        return {
            "moved": self.moved,
            "failed": [{"id": k, "reason": v} for k, v in sorted(self.failed.items())],
            "possible_duplicates": sorted(self.possible_duplicates),
            "skipped": self.skipped,
            "stalled": self.stalled,
            **({"already_copied": self.already_copied} if self.browsed is not None else {}),
        }


class _Commits:
    """The COMMITs under way: a batch counts as moved once the broker confirmed its COMMIT."""

    def __init__(
        self,
        report: AmqRedriveReport,
        progress: Callable[[int], None],
        confirmed: Callable[[list[str]], None] = lambda ids: None,
    ) -> None:
        self.report, self.progress, self.confirmed = report, progress, confirmed
        self.pending: collections.deque[tuple[PendingReceipt, list[str]]] = collections.deque()

    def add(self, commit: PendingReceipt, moved: list[str]) -> None:
        self.pending.append((commit, moved))
        while len(self.pending) >= IN_FLIGHT_COMMITS:
            self._confirm_oldest()

    def wait_all(self) -> None:
        while self.pending:
            self._confirm_oldest()

    def _confirm_oldest(self) -> None:
        commit, moved = self.pending[0]
        commit.wait()
        self.pending.popleft()
        self.confirmed(moved)
        self.report.moved += len(moved)
        self.progress(len(moved))


def both(*selectors: str | None) -> str | None:
    """The selectors that are given, ANDed."""
    given = [f"({s})" for s in selectors if s]
    return " AND ".join(given) or None


def selector_for(policy: FilterPolicy | None, ids: frozenset[str] | None) -> str | None:
    parts = []
    if ids is not None and not ids:
        return "1 = 0"  # nothing is selected (a filter that matched no browsed message)
    if ids is not None:
        parts.append(
            "JMSMessageID IN (" + ", ".join("'" + i.replace("'", "''") + "'" for i in sorted(ids)) + ")"
        )
    if policy is not None:
        parts.append(f"({to_selector(policy.policy)})")
    return " AND ".join(parts) or None


class ActiveMqRedrive:
    """``journal`` (for --copy) records each message copied, so a rerun never copies it again."""

    def __init__(
        self,
        backend: ActiveMqBackend,
        dlq: Channel,
        to: Channel | None,
        journal: Journal | None = None,
        transform: Repairer | None = None,
    ) -> None:
        self.session, self.dlq, self.to, self.journal = backend.session, dlq, to, journal
        self.transform = transform
        self.keep_repairs = False  # a dry run shows each message before and after
        self.broken_groups: set[str] = set()  # groups with a message the transform could not repair

    def run(
        self,
        policy: FilterPolicy | None,
        ids: frozenset[str] | None,
        limit: int | None,
        copy: bool,
        dry_run: bool,
        progress: Callable[[int], None],
    ) -> AmqRedriveReport:
        report = AmqRedriveReport()
        try:
            selector = selector_for(policy, ids)
        except NoSelectorEquivalent:
            # The broker cannot select for us: browse, decide with the engine, select those ids.
            selector = selector_for(None, self._browse_ids(policy, ids, report))
        if dry_run and self.transform is not None:  # what each message would become
            self.keep_repairs = True
            browsed = list(self.session.browse(self.dlq.name, both(selector, GROUP_KNOWN)))
            report.would_move = sorted(_message_id(o[0]) for o in self._sendable(browsed, report))
            return report
        if dry_run:
            report.would_move = sorted(self._browse_ids(None, None, report, both(selector, GROUP_KNOWN)))
            return report
        self._name_unknown_groups(selector, report)
        if copy:  # nothing is acked, so copies come from a browse (a consumer would stall at its prefetch)
            return self._copy(both(selector, GROUP_KNOWN), limit, report, progress)
        headers = {
            "activemq.prefetchSize": str(PREFETCH),
            "selector": both(selector, GROUP_KNOWN) or "",
        }
        sub_id, inbox = self.session.subscribe(f"/queue/{self.dlq.name}", headers, ack="client-individual")
        commits = _Commits(report, progress)
        try:
            taken = left = 0
            while limit is None or taken < limit:
                batch = self._next_batch(
                    inbox, TRANSACTION_SIZE if limit is None else min(TRANSACTION_SIZE, limit - taken)
                )
                if not batch:
                    break
                taken += len(batch)
                sendable = self._sendable(batch, report)
                left += len(batch) - len(sendable)
                commits.add(*self._move(sendable, False))
            commits.wait_all()
        finally:
            self.session.unsubscribe(sub_id)  # whatever was delivered and not acked goes back to the DLQ
        report.left = left
        report.stalled = left >= PREFETCH and (limit is None or taken < limit)
        return report

    def _copy(
        self,
        selector: str | None,
        limit: int | None,
        report: AmqRedriveReport,
        progress: Callable[[int], None],
    ) -> AmqRedriveReport:
        browsed = list(self.session.browse(self.dlq.name, selector))
        report.browsed = len(browsed)
        ready = self._not_yet_copied(browsed, limit, report)
        commits = _Commits(report, progress, self._copied)
        for start in range(0, len(ready), TRANSACTION_SIZE):
            batch = ready[start : start + TRANSACTION_SIZE]
            if self.journal is not None:  # only what is about to be sent: the rest was never sent
                self.journal.received((_message_id(frame), "") for frame, *_ in batch)
            commits.add(*self._move(batch, True))
        commits.wait_all()
        return report

    def _not_yet_copied(
        self, frames: list[Frame], limit: int | None, report: AmqRedriveReport
    ) -> list[Outgoing]:
        """Up to ``limit`` frames to send, leaving out what the journal says was copied (so a rerun goes on
        with the next ones) and what cannot be sent (named as failed); what a run left unconfirmed (it may
        have been committed) is copied again and named as a possible duplicate."""
        known = self.journal.states(_message_id(f) for f in frames) if self.journal is not None else {}
        todo: list[Outgoing] = []
        for frame in frames:
            if limit is not None and len(todo) >= limit:
                break
            entry = known.get(_message_id(frame))
            if entry is not None and entry.state == "copied":
                report.already_copied += 1
                continue
            outgoing = self._outgoing(frame, report)
            if outgoing is None:
                continue
            if entry is not None and entry.state == "received":
                report.possible_duplicates.append(entry.message_id)
            todo.append(outgoing)
        return todo

    def _copied(self, message_ids: list[str]) -> None:
        if self.journal is not None:
            self.journal.mark(message_ids, "copied")

    def _name_unknown_groups(self, selector: str | None, report: AmqRedriveReport) -> None:
        for frame in self.session.browse(self.dlq.name, both(selector, GROUP_UNKNOWN)):
            report.failed[_message_id(frame)] = GROUP_LEFT

    def _next_batch(self, inbox: queue.Queue[Frame | MsgctlError], size: int) -> list[Frame]:
        batch: list[Frame] = []
        while len(batch) < size:
            try:
                batch.append(self.session.receive(inbox, str(self.dlq), IDLE_S))
            except MsgctlError as exc:
                if exc.code != "Timeout":
                    raise
                break
        return batch

    def _sendable(self, batch: list[Frame], report: AmqRedriveReport) -> list[Outgoing]:
        return [o for o in (self._outgoing(frame, report) for frame in batch) if o is not None]

    def _outgoing(self, frame: Frame, report: AmqRedriveReport) -> Outgoing | None:
        """The frame with where and how to send it; None (the frame named as failed, left in the DLQ) when
        it cannot be sent."""
        destination = self._destination(frame)
        if destination is None:
            report.failed[_message_id(frame)] = "no original-destination: pass --to"
            return None
        try:
            headers = resend_headers(frame)
        except UsageError as exc:
            report.failed[_message_id(frame)] = exc.message
            return None
        if self.transform is None:
            return frame, destination, headers, frame.body
        group = frame.headers.get("msgctl_group")
        if group is not None and group in self.broken_groups:  # the rest of the group stays, in order
            report.failed[_message_id(frame)] = "held back: an earlier message of its group was not repaired"
            return None
        try:
            repair = self.transform.apply(envelope_from_frame(str(self.dlq), frame))
            if repair.envelope is None:
                report.skipped += 1
                return None
            headers = repaired_headers(
                repair.before, repair.envelope, headers, is_bytes_message(frame.headers)
            )
        except TransformError as exc:
            report.failed[_message_id(frame)] = f"not repaired: {exc}"
            if group is not None:
                self.broken_groups.add(group)
            return None
        if self.keep_repairs:
            report.repairs.append(repair)
        return frame, destination, headers, repair.envelope.body

    def _move(self, batch: list[Outgoing], copy: bool) -> tuple[PendingReceipt, list[str]]:
        """Send (and ack) the batch in one transaction; returns its COMMIT, not yet confirmed."""
        transaction = f"msgctl-redrive-{uuid.uuid4().hex[:12]}"
        conn = self.session.conn
        conn.begin(transaction=transaction)
        try:
            for frame, destination, headers, body in batch:
                conn.send(destination, body, headers=headers | {"transaction": transaction})
                if not copy:
                    conn.ack(frame.headers["ack"], transaction=transaction)
            return self.session.start_commit(transaction), [_message_id(frame) for frame, *_ in batch]
        except BaseException:
            # The broker also rolls back an open transaction when the connection goes.
            with contextlib.suppress(Exception):
                conn.abort(transaction)
            raise

    def _destination(self, frame: Frame) -> str | None:
        if self.to is not None:
            return f"/{self.to.kind}/{self.to.name}"
        original = frame.headers.get("original-destination", "")
        for prefix, kind in (
            ("/queue/", "queue"),
            ("queue://", "queue"),
            ("/topic/", "topic"),
            ("topic://", "topic"),
        ):
            if original.startswith(prefix):
                return f"/{kind}/{original[len(prefix) :]}"
        return None

    def _browse_ids(
        self,
        policy: FilterPolicy | None,
        ids: frozenset[str] | None,
        report: AmqRedriveReport,
        selector: str | None = None,
    ) -> frozenset[str]:
        found: set[str] = set()
        browsed = 0
        for frame in self.session.browse(self.dlq.name, selector):
            browsed += 1
            message_id = frame.headers.get("message-id", "")
            envelope = envelope_from_frame(str(self.dlq), frame)
            if (ids is None or message_id in ids) and (
                policy is None or policy.matches(message_from_envelope(envelope))
            ):
                found.add(message_id)
        if browsed >= BROWSE_CAP:
            report.notes.append(CAPPED)
        return frozenset(found)


# The envelope attributes a repair may change on ActiveMQ, and the headers that carry them.
SETTABLE = {
    "group_id": ("JMSXGroupID", "msgctl_group"),
    "priority": ("priority",),
    "persistent": ("persistent",),
    "content_type": ("content-type",),
}


def repaired_headers(
    before: Envelope, after: Envelope, headers: dict[str, str], bytes_message: bool
) -> dict[str, str]:
    """The headers to send the repaired message with: the resend headers, with the properties and the
    attributes the program changed. Raises TransformError for a change ActiveMQ cannot carry."""
    headers = dict(headers)
    for name in before.message_attributes.keys() - after.message_attributes.keys():
        headers.pop(name, None)
    for name, attribute in after.message_attributes.items():
        if before.message_attributes.get(name) != attribute:
            if isinstance(attribute.value, bytes | list):
                raise TransformError(f"property {name!r}: ActiveMQ properties sent over STOMP are text")
            headers[name] = str(attribute.value)
    for key in sorted(before.attributes.keys() | after.attributes.keys()):
        old, new = before.attributes.get(key), after.attributes.get(key)
        if old == new:
            continue
        if key not in SETTABLE:
            raise TransformError(
                f"attributes.{key} cannot be changed on ActiveMQ (only {', '.join(SETTABLE)})"
            )
        if key == "priority" and new is not None and (type(new) is not int or not 0 <= new <= 9):
            raise TransformError(f"attributes.priority must be a whole number 0-9, not {new!r}")
        for header in SETTABLE[key]:
            if new is None:
                headers.pop(header, None)
            else:
                headers[header] = ("true" if new else "false") if isinstance(new, bool) else str(new)
    for header in ("content-length", "amq-msg-type"):
        headers.pop(header, None)
    return headers | body_headers(after.body, bytes_message)


def resend_headers(frame: Frame) -> dict[str, str]:
    """The dead letter as it was first sent: its properties and JMS headers, its expiry from before the
    dead-lettering (originalExpiration), its persistence, its group from msgctl_group, its message type.
    Raises UsageError when that expiry has passed."""
    headers = {k: v for k, v in frame.headers.items() if k not in DLQ_HEADERS}
    headers["persistent"] = "true" if frame.headers.get("persistent") == "true" else "false"
    expires = epoch_ms(frame.headers.get("originalExpiration")) or epoch_ms(frame.headers.get("expires"))
    if expires:
        refuse_passed_expiry(expires, "redriving")
        headers["expires"] = str(expires)
    if frame.headers.get("msgctl_group"):
        headers["JMSXGroupID"] = frame.headers["msgctl_group"]
    return headers | body_headers(frame.body, is_bytes_message(frame.headers))


def _message_id(frame: Frame) -> str:
    return frame.headers.get("message-id", "")
