"""SQS FIFO lag by a receive sweep: receive (holding) until nothing more comes, then release everything.

A FIFO receive returns at most 10 messages and nothing of a group that has a message in flight, so the
sweep sees the head (and the first few messages) of every group not in flight. Each message seen costs one
receive: the report says how many messages that left one receive from the DLQ.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from msgctl.address import Channel
from msgctl.backends.sqs import SqsBackend, max_receive_count, queue_counts, release
from msgctl.backends.sqs_receives import RECEIVE_LIMIT, ReceiveRecord, next_receive_risk, sqs_receive
from msgctl.core.fifo_lag import LagReport, Seen, cut_from_batches, group_rows
from msgctl.errors import MsgctlError, UsageError

DEFAULT_SAMPLE = 1000
DEFAULT_HOLD_S = 30


class SqsFifoSweep:
    def __init__(self, backend: SqsBackend, channel: Channel, sample: int, hold_s: int, force: bool) -> None:
        self.channel, self.sample, self.hold_s, self.force = channel, sample, hold_s, force
        self.backend = backend
        self.client = backend.client_for(channel)
        self.url = backend.queue_url(channel)
        attributes = backend.queue_attributes(channel)
        if attributes.get("FifoQueue") != "true":
            raise UsageError(f"{channel} is not a FIFO queue: it has no message groups")
        self.max_receive_count = max_receive_count(attributes)
        if self.max_receive_count is not None and self.max_receive_count <= 2 and not force:
            raise UsageError(
                f"{channel} moves a message to its DLQ after {self.max_receive_count} receives, and each "
                "sweep receives every message it sees once: nothing was received (--force to measure anyway)"
            )
        self.near_dlq: set[str] = set()  # message ids one receive (or less) from the DLQ after a sweep
        self.next_near_dlq = 0  # how many another sweep would leave one receive (or less) from the DLQ
        self.record = ReceiveRecord(self.url)
        self.record.forget_if_empty(attributes)
        at_risk = next_receive_risk(self.record, self.max_receive_count)
        if at_risk and not force:
            raise UsageError(
                f"msgctl's earlier receives left {at_risk} messages of {channel} one receive (or less) from "
                f"the DLQ limit (maxReceiveCount {self.max_receive_count}): a sweep would leave them one "
                "receive from the DLQ or move them there; nothing was received (--force to measure anyway)"
            )

    def measure(self, stop_requested: Callable[[], bool] = lambda: False) -> LagReport:
        before = queue_counts(self.client, self.url, str(self.channel))
        self.near_dlq, self.next_near_dlq = set(), 0
        held: list[str] = []
        swept: list[dict[str, Any]] = []
        whole = False  # the sweep saw every message: what the record holds beyond them is gone
        try:
            batches, sample_reached = self._sweep(held, swept, stop_requested)
            # while still holding what the sweep saw
            left_visible, _ = queue_counts(self.client, self.url, str(self.channel))
            whole = left_visible == 0 and before[1] == 0 and not sample_reached and not stop_requested()
        finally:
            release(self.client, self.url, held, str(self.channel))
            if whole:
                self.record.forget_all_but({m["MessageId"] for m in swept})
            self.record.add(swept)
            self.record.save()
        seen = [message for _, batch in batches for message in batch]
        report = LagReport(
            channel=str(self.channel),
            groups=group_rows(seen, cut_from_batches(batches, left_visible == 0 and not sample_reached)),
        )
        report.queue = {
            "approximate_number_of_messages": before[0],
            "approximate_number_of_messages_not_visible": before[1],
            "in_flight_in_uninspected_groups": before[1],
            "messages_seen": len(seen),
            "receives": len(seen),
            "hold_s": self.hold_s,
            "max_receive_count": self.max_receive_count,
            "now_one_receive_from_dlq": len(self.near_dlq),
            "sample_reached": sample_reached,
        }
        if before[1]:
            report.notes.append(
                f"{before[1]} messages were in flight: their groups are hidden from a receive and not listed"
            )
        if sample_reached:
            report.notes.append(f"stopped at --sample {self.sample}: some groups may be missing")
        if report.queue["now_one_receive_from_dlq"]:
            report.notes.append(
                f"{report.queue['now_one_receive_from_dlq']} messages are now one receive from the DLQ "
                f"(maxReceiveCount {self.max_receive_count})"
            )
        return report

    def can_measure_again(self) -> None:
        """--watch: refuse a sweep that would leave a message one receive (or less) from the DLQ."""
        if self.next_near_dlq and not self.force:
            raise MsgctlError(
                f"stopped watching: another sweep would leave {self.next_near_dlq} messages one receive (or "
                f"less) from the DLQ (maxReceiveCount {self.max_receive_count}); --force to go on"
            )

    def _sweep(
        self, held: list[str], swept: list[dict[str, Any]], stop_requested: Callable[[], bool]
    ) -> tuple[list[tuple[int, list[Seen]]], bool]:
        """Receive until nothing new comes (or a stop is requested: checked between receives only, so no
        receive is cut off); returns the batches seen and whether --sample cut it short."""
        batches: list[tuple[int, list[Seen]]] = []
        ids: set[str] = set()
        while len(ids) < self.sample:
            if stop_requested():
                return batches, False
            asked = min(RECEIVE_LIMIT, self.sample - len(ids))
            messages = sqs_receive(
                self.client, self.url, str(self.channel), self.hold_s, asked, message_attributes=False
            ).get("Messages", [])
            held += [m["ReceiptHandle"] for m in messages]
            swept += messages
            fresh = [m for m in messages if m["MessageId"] not in ids]
            if not fresh:  # nothing more, or the hold ran out and the first ones came back
                return batches, False
            batches.append((asked, [self._seen(m) for m in fresh]))
            ids.update(m["MessageId"] for m in fresh)
            if len(fresh) < len(messages):
                return batches, False
        return batches, True

    def _seen(self, message: dict[str, Any]) -> Seen:
        attributes = message.get("Attributes", {})
        receives = int(attributes.get("ApproximateReceiveCount", "1"))
        if self.max_receive_count is not None and receives >= self.max_receive_count - 1:
            self.near_dlq.add(message["MessageId"])
        if self.max_receive_count is not None and receives + 1 >= self.max_receive_count - 1:
            self.next_near_dlq += 1
        sent = attributes.get("SentTimestamp")
        return Seen(
            group=str(attributes.get("MessageGroupId", "")),
            sent_ms=int(sent) if sent else None,
            receives_before=receives - 1,
            receives_by_others=max(0, receives - 1 - self.record.by_msgctl(message["MessageId"])),
        )
