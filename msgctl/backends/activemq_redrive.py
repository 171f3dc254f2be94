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
from msgctl.backends.activemq import BROWSE_CAP, ActiveMqBackend, Frame, PendingReceipt
from msgctl.backends.activemq_tail import envelope_from_frame
from msgctl.core.filter_policy import FilterPolicy
from msgctl.core.filtering import message_from_envelope
from msgctl.core.selector import NoSelectorEquivalent, to_selector
from msgctl.errors import MsgctlError

TRANSACTION_SIZE = 100
# Transactions committed but not yet confirmed: the broker writes one while the next is sent. The prefetch
# covers them, so the next batch is delivered before the previous COMMIT is confirmed.
IN_FLIGHT_COMMITS = 2
CAPPED = f"the broker browses at most {BROWSE_CAP} messages: run again for the rest"
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

    def to_json(self) -> dict[str, object]:
        return {
            "moved": self.moved,
            "failed": [{"id": k, "reason": v} for k, v in sorted(self.failed.items())],
            "possible_duplicates": [],
        }


class _Commits:
    """The COMMITs under way: a batch counts as moved once the broker confirmed its COMMIT."""

    def __init__(self, report: AmqRedriveReport, progress: Callable[[int], None]) -> None:
        self.report, self.progress = report, progress
        self.pending: collections.deque[tuple[PendingReceipt, int]] = collections.deque()

    def add(self, commit: PendingReceipt, moved: int) -> None:
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
        self.report.moved += moved
        self.progress(moved)


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
    def __init__(self, backend: ActiveMqBackend, dlq: Channel, to: Channel | None) -> None:
        self.session, self.dlq, self.to = backend.session, dlq, to

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
        if dry_run:
            report.would_move = sorted(self._browse_ids(None, None, report, selector))
            return report
        if copy:  # nothing is acked, so copies come from a browse (a consumer would stall at its prefetch)
            return self._copy(selector, limit, report, progress)
        headers = {"activemq.prefetchSize": str(TRANSACTION_SIZE * IN_FLIGHT_COMMITS)}
        if selector:
            headers["selector"] = selector
        sub_id, inbox = self.session.subscribe(f"/queue/{self.dlq.name}", headers, ack="client-individual")
        commits = _Commits(report, progress)
        try:
            taken = 0
            while limit is None or taken < limit:
                batch = self._next_batch(
                    inbox, TRANSACTION_SIZE if limit is None else min(TRANSACTION_SIZE, limit - taken)
                )
                if not batch:
                    break
                taken += len(batch)
                commits.add(*self._move(batch, copy, report))
            commits.wait_all()
        finally:
            self.session.unsubscribe(sub_id)  # whatever was delivered and not acked goes back to the DLQ
        return report

    def _copy(
        self,
        selector: str | None,
        limit: int | None,
        report: AmqRedriveReport,
        progress: Callable[[int], None],
    ) -> AmqRedriveReport:
        browsed: list[Frame] = []
        for frame in self.session.browse(self.dlq.name, selector):
            if limit is not None and len(browsed) >= limit:
                break
            browsed.append(frame)
        if len(browsed) >= BROWSE_CAP:
            report.notes.append(CAPPED)
        commits = _Commits(report, progress)
        for start in range(0, len(browsed), TRANSACTION_SIZE):
            commits.add(*self._move(browsed[start : start + TRANSACTION_SIZE], True, report))
        commits.wait_all()
        return report

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

    def _move(self, batch: list[Frame], copy: bool, report: AmqRedriveReport) -> tuple[PendingReceipt, int]:
        """Send (and ack) the batch in one transaction; returns its COMMIT, not yet confirmed."""
        transaction = f"msgctl-redrive-{uuid.uuid4().hex[:12]}"
        conn = self.session.conn
        conn.begin(transaction=transaction)
        moved = 0
        try:
            for frame in batch:
                destination = self._destination(frame)
                if destination is None:
                    report.failed[frame.headers.get("message-id", "")] = "no original-destination: pass --to"
                    continue
                headers = {k: v for k, v in frame.headers.items() if k not in DLQ_HEADERS}
                headers |= {"persistent": "true", "transaction": transaction}
                conn.send(destination, frame.body, headers=headers)
                if not copy:
                    conn.ack(frame.headers["ack"], transaction=transaction)
                moved += 1
            return self.session.start_commit(transaction), moved
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
