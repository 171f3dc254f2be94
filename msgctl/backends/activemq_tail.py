"""tail on ActiveMQ: queues are browsed (``browser:true``, nothing consumed), topics subscribed to."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from msgctl.address import Channel
from msgctl.backends.activemq import BROWSE_CAP, ActiveMqBackend
from msgctl.backends.stomp_session import Frame, is_bytes_message
from msgctl.core.tail import TailOptions, TailReport, iso
from msgctl.envelope import Envelope, MessageAttribute
from msgctl.errors import MsgctlError

FOLLOW_INTERVAL_S = 5.0
IDLE_TICK_S = 1.0
PROTOCOL_HEADERS = frozenset(
    {
        "destination",
        "message-id",
        "subscription",
        "ack",
        "content-length",
        "content-type",
        "receipt",
        "browser",
        "timestamp",
        "expires",
        "priority",
        "persistent",
        "redelivered",
        "original-destination",
        "amq-msg-type",
        "msgctl_group",
        "msgctl_dedup_id",
        "JMSXGroupID",
    }
)


def envelope_from_frame(channel: str, frame: Frame) -> Envelope:
    headers = frame.headers
    expires = headers.get("expires", "0")
    attributes: dict[str, Any] = {
        "sent_at": iso(headers.get("timestamp")),
        "persistent": headers.get("persistent") == "true",
        "priority": int(headers["priority"]) if headers.get("priority", "").isdigit() else None,
        "expires": iso(expires) if expires not in ("", "0") else None,
        "original_destination": headers.get("original-destination"),
        "redelivered": headers.get("redelivered") == "true",
        "group_id": headers.get("msgctl_group") or headers.get("JMSXGroupID"),
        "dedup_id": headers.get("msgctl_dedup_id"),
        "content_type": headers.get("content-type"),
        "message_type": "bytes" if is_bytes_message(headers) else "text",
    }
    return Envelope(
        channel=channel,
        id=headers.get("message-id"),
        body=frame.body,
        attributes={k: v for k, v in attributes.items() if v is not None},
        message_attributes={
            name: MessageAttribute("String", value)
            for name, value in headers.items()
            if name not in PROTOCOL_HEADERS
        },
    )


class ActiveMqQueueTail:
    """A browse of the queue (or, with --consume, a client-individual subscription acked after printing)."""

    def __init__(self, backend: ActiveMqBackend, channel: Channel, options: TailOptions) -> None:
        self.backend, self.session, self.channel, self.options = backend, backend.session, channel, options
        self.destination = f"/queue/{channel.name}"
        self.seen: set[str] = set()
        self.capped = False
        self.frames: dict[str, Frame] = {}
        self.consumer: str | None = None

    def poll(self) -> Iterator[Envelope | None]:
        if self.options.consume:
            yield from self._consume()
            return
        while True:
            yield from self._browse()
            if not self.options.follow:
                return
            deadline = time.monotonic() + FOLLOW_INTERVAL_S
            while time.monotonic() < deadline:
                yield None
                time.sleep(min(IDLE_TICK_S, max(0.0, deadline - time.monotonic())))

    def _browse(self) -> Iterator[Envelope]:
        browsed = 0
        for frame in self.session.browse(self.channel.name):
            browsed += 1
            message_id = frame.headers.get("message-id", "")
            if message_id not in self.seen:
                self.seen.add(message_id)
                yield envelope_from_frame(str(self.channel), frame)
        self.capped = self.capped or browsed >= BROWSE_CAP

    def _consume(self) -> Iterator[Envelope | None]:
        self.consumer, inbox = self.session.subscribe(self.destination, ack="client-individual")
        while True:
            try:
                frame = self.session.receive(inbox, str(self.channel), IDLE_TICK_S)
            except MsgctlError as exc:
                if exc.code != "Timeout":
                    raise
                if not self.options.follow:
                    return  # drained: nothing more arrived within a second
                yield None
                continue
            envelope = envelope_from_frame(str(self.channel), frame)
            self.frames[envelope.id or ""] = frame
            yield envelope

    def printed(self, envelope: Envelope) -> None:
        frame = self.frames.pop(envelope.id or "", None)
        if frame is not None:
            self.session.ack(frame)

    def close(self, report: TailReport) -> None:
        if self.consumer is not None:
            self.session.unsubscribe(self.consumer)  # unacked messages go back to the queue
            self.consumer = None
        reached_max = self.options.max is not None and len(self.seen) >= self.options.max
        if self.capped and not reached_max:
            self._name_unreached(report)

    def _name_unreached(self, report: TailReport) -> None:
        try:
            depth = self.backend.stats(self.channel).summary.depth
        except MsgctlError:
            depth = None
        if depth is not None and depth <= len(self.seen):
            return  # the page held the whole queue
        held = f"{self.channel} holds {depth} messages: " if depth is not None else ""
        report.partial = report.partial or (
            f"{held}the broker browses only the first {BROWSE_CAP} (maxBrowsePageSize), so the later ones "
            f"were not read; raise maxBrowsePageSize for this queue on the broker, or read them all with "
            f"msgctl tail {self.channel} --consume -o ndjson (which takes them off the queue)"
        )


class ActiveMqTopicTail:
    """A plain subscription for as long as the tail runs."""

    def __init__(self, backend: ActiveMqBackend, channel: Channel, options: TailOptions) -> None:
        self.session, self.channel = backend.session, channel
        self.sub_id, self.inbox = self.session.subscribe(f"/topic/{channel.name}")

    def poll(self) -> Iterator[Envelope | None]:
        while True:
            try:
                frame = self.session.receive(self.inbox, str(self.channel), IDLE_TICK_S)
            except MsgctlError as exc:
                if exc.code != "Timeout":
                    raise
                yield None
                continue
            yield envelope_from_frame(str(self.channel), frame)

    def printed(self, envelope: Envelope) -> None:
        pass

    def close(self, report: TailReport) -> None:
        self.session.unsubscribe(self.sub_id)
