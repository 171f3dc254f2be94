"""ActiveMQ Classic (and Amazon MQ for ActiveMQ) over STOMP 1.2 with stomp.py.

Queue depth and counters come from the broker's ``statisticsBrokerPlugin``: a SEND to
``ActiveMQ.Statistics.Destination.<name>`` with a ``reply-to`` is answered with one map per matching
destination, ended by an empty message when ``...List.End.With.Null`` is set.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Generator, Iterable, Iterator
from typing import Any

from msgctl.address import Channel, Kind
from msgctl.backends.stomp_session import Frame, StompSession, body_headers, new_id, next_frame
from msgctl.broker import BrokerTarget
from msgctl.core.ports import Capabilities, ChannelStats, ChannelSummary, OutgoingMessage, SendReceipt
from msgctl.envelope import MessageAttribute
from msgctl.errors import MsgctlError, NotFoundError, UsageError

STATS_PREFIX = "ActiveMQ.Statistics.Destination."
INTERNAL_PREFIXES = ("ActiveMQ.Advisory.", "ActiveMQ.Statistics.")
SHARED_DLQ = "ActiveMQ.DLQ"
INDIVIDUAL_DLQ_PREFIX = "DLQ."
VIRTUAL_PREFIX = "VirtualTopic."
ID_PROPERTY = "msgctl_id"  # the id send prints: the broker's own message-id is not known to a STOMP sender
CONSUMER_PREFIX = "Consumer."
BROWSE_CAP = 400  # ActiveMQ's default maxBrowsePageSize: a browse shows at most this many messages
# STOMP properties are strings; the broker compares one with a selector's number by reading it as that
# number's type, so "5.5" misses `n > 5` while "5" matches `n > 4` and `n > 4.5` (measured on 5.17).
INTEGER = re.compile(r"-?[0-9]{1,18}")
RESERVED_HEADERS = frozenset(
    {
        "content-length",
        "content-type",
        "destination",
        "receipt",
        "transaction",
        "persistent",
        "priority",
        "expires",
        "message-id",
        "subscription",
        "ack",
        "id",
        "redelivered",
        "amq-msg-type",
        "jmsxgroupid",
        "transformation",
    }
)


class ActiveMqSession(StompSession):
    """A STOMP session with ActiveMQ's own requests: the statistics plugin and queue browsers."""

    def statistics(self, query: str, kind: Kind) -> list[dict[str, Any]]:
        """Ask the statistics plugin about destinations matching ``query`` (ActiveMQ wildcards allowed)."""
        reply_to = f"/temp-queue/{new_id('msgctl-stats')}"
        sub_id, inbox = self.subscribe(reply_to, {"transformation": "jms-map-json"})
        try:
            self.send(
                f"/{kind}/{STATS_PREFIX}{query}",
                b"",
                {"reply-to": reply_to, "ActiveMQ.Statistics.Destination.List.End.With.Null": "true"},
            )
            replies: list[dict[str, Any]] = []
            while True:
                frame = next_frame(
                    inbox,
                    f"no statistics reply from {self.target.label} within {self.reply_timeout_s:g} s: is "
                    "the statisticsBrokerPlugin enabled?",
                    self.reply_timeout_s,
                )
                entries = _parse_stats_map(frame.body)
                if not entries:
                    return replies
                replies.append(entries)
        finally:
            self.unsubscribe(sub_id)

    def browse(self, queue_name: str, selector: str | None = None) -> Generator[Frame, None, None]:
        """The queue's messages without consuming them (at most BROWSE_CAP: the broker's
        maxBrowsePageSize); the subscription ends when the generator does, also when it is left early."""
        headers = {"browser": "true", **({"selector": selector} if selector else {})}
        sub_id, inbox = self.subscribe(f"/queue/{queue_name}", headers)
        try:
            silent = (
                f"browsing {queue_name} on {self.target.label}: no answer within {self.reply_timeout_s:g} s"
            )
            while (frame := next_frame(inbox, silent, self.reply_timeout_s)).headers.get("browser") != "end":
                yield frame
        finally:
            self.unsubscribe(sub_id)

    def first_message(self, queue_name: str) -> Frame | None:
        """Browse the head of a queue without consuming it."""
        browsing = self.browse(queue_name)
        try:
            return next(browsing, None)
        finally:
            browsing.close()


class ActiveMqBackend:
    service = "amq"
    capabilities = Capabilities(message_groups=True)

    def __init__(self, target: BrokerTarget) -> None:
        self.target = target
        self._session: ActiveMqSession | None = None

    @property
    def session(self) -> ActiveMqSession:
        if self._session is None:
            self._session = ActiveMqSession(self.target)  # connects on first use
        return self._session

    def list_channels(self, prefix: str | None = None) -> Iterator[ChannelSummary]:
        # ActiveMQ wildcards match whole name segments only ("orders.>"), so a name prefix is a filter.
        all_queues = self.destinations(">", "queue")
        queue_names = {name for name, _ in all_queues}
        for name, stats in sorted(all_queues, key=lambda d: d[0]):
            if name.startswith(prefix or ""):
                yield _summary("queue", name, stats, dlq_for(name, queue_names))
        for name, stats in sorted(self.destinations(">", "topic"), key=lambda d: d[0]):
            if name.startswith(prefix or ""):
                yield _topic_summary(name, stats, consumer_queues(name, queue_names))

    def destinations(self, query: str, kind: Kind) -> list[tuple[str, dict[str, Any]]]:
        found = []
        for stats in self.session.statistics(query, kind):
            name = _destination_name(stats)
            if name and not name.startswith(INTERNAL_PREFIXES):
                found.append((name, stats))
        return found

    def stats(self, channel: Channel) -> ChannelStats:
        matches = [
            s
            for s in self.session.statistics(channel.name, channel.kind)
            if _destination_name(s) == channel.name
        ]
        if not matches:
            raise NotFoundError(f"{channel} not found on {self.target.label}")
        stats = matches[0]
        dlq = None
        if channel.kind == "queue":
            existing = {
                name for name, _ in self.destinations(f"{INDIVIDUAL_DLQ_PREFIX}{channel.name}", "queue")
            }
            existing |= {name for name, _ in self.destinations(SHARED_DLQ, "queue")}
            dlq = dlq_for(channel.name, existing)
        details = {
            "enqueue_count": stats.get("enqueueCount"),
            "dequeue_count": stats.get("dequeueCount"),
            "dispatch_count": stats.get("dispatchCount"),
            "expired_count": stats.get("expiredCount"),
            "consumer_count": stats.get("consumerCount"),
            "producer_count": stats.get("producerCount"),
            "broker": stats.get("brokerName"),
            "statistics": stats,
        }
        if channel.kind == "topic":
            summary = _topic_summary(channel.name, stats, self._consumer_queues(channel.name))
        else:
            summary = _summary(channel.kind, channel.name, stats, dlq)
        return ChannelStats(
            summary=summary,
            oldest_age_s=self.oldest_age(channel, stats),
            details=details,
        )

    def _consumer_queues(self, topic_name: str) -> list[str]:
        if not topic_name.startswith(VIRTUAL_PREFIX):
            return []
        found = {name for name, _ in self.destinations(f"Consumer.*.{topic_name}", "queue")}
        return consumer_queues(topic_name, found)

    def oldest_age(self, channel: Channel, stats: dict[str, Any]) -> float | None:
        """Seconds since the head message was sent: from the statistics, else by browsing the head."""
        first = stats.get("firstMessageTimestamp")
        if isinstance(first, int) and first > 0:
            return _age_s(first)
        if channel.kind != "queue" or not stats.get("size"):
            return None
        head = self.session.first_message(channel.name)
        if head is None or not head.headers.get("timestamp", "").isdigit():
            return None
        return _age_s(int(head.headers["timestamp"]))

    def send(self, channel: Channel, message: OutgoingMessage) -> SendReceipt:
        """The broker sets the JMSMessageID itself and STOMP never returns it, so msgctl gives each message
        an id of its own, the property msgctl_id (unless the message has one), and returns that."""
        headers = stomp_headers(message)
        message_id = headers.setdefault(ID_PROPERTY, str(uuid.uuid4()))
        self.session.send(f"/{channel.kind}/{channel.name}", message.body, headers)
        return SendReceipt(str(channel), message_id)

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None


def stomp_headers(message: OutgoingMessage, jms: dict[str, Any] | None = None) -> dict[str, str]:
    """Properties from the attributes, the group as JMSXGroupID (which STOMP never returns) and
    msgctl_group, the deduplication id as msgctl_dedup_id; the JMS headers from ``jms`` (an envelope's
    persistent, priority, expires, content_type and message_type), persistent by default."""
    jms = jms or {}
    headers = jms_headers(jms) | body_headers(message.body, jms.get("message_type") == "bytes")
    for name, attr in message.message_attributes.items():
        if name.lower() in RESERVED_HEADERS:
            raise UsageError(f"attribute {name!r} is a STOMP header msgctl sets itself")
        headers[name] = _property_value(name, attr)
    if message.group_id:
        headers["JMSXGroupID"] = message.group_id
        headers["msgctl_group"] = message.group_id
    if message.dedup_id:
        headers["msgctl_dedup_id"] = message.dedup_id
    return headers


def _property_value(name: str, attr: MessageAttribute) -> str:
    if not isinstance(attr.value, str):
        raise UsageError(f"attribute {name!r}: ActiveMQ properties are strings or numbers, not {attr.type}")
    if attr.base_type == "Number" and not INTEGER.fullmatch(attr.value.strip()):
        raise UsageError(
            f"attribute {name!r}: STOMP carries {attr.value} as a string, which numeric selectors like "
            f"`{name} > 5` do not match on ActiveMQ; send an integer, or {name}={attr.value} as a String"
        )
    return attr.value.strip() if attr.base_type == "Number" else attr.value


def jms_headers(jms: dict[str, Any]) -> dict[str, str]:
    """persistent (default true), priority, expires (ISO-8601 or epoch ms) and content-type as STOMP
    headers, which the broker turns into the JMS headers."""
    headers = {"persistent": "false" if jms.get("persistent") is False else "true"}
    priority = jms.get("priority")
    if isinstance(priority, int) and not isinstance(priority, bool):
        headers["priority"] = str(priority)
    expires = epoch_ms(jms.get("expires"))
    if expires:
        refuse_passed_expiry(expires, "sending")
        headers["expires"] = str(expires)
    if isinstance(jms.get("content_type"), str):
        headers["content-type"] = jms["content_type"]
    return headers


def refuse_passed_expiry(expires: int, doing: str) -> None:
    """Raise UsageError for an expiry (epoch ms) at or before now: the broker would expire the message as
    it arrives (a persistent one to a DLQ again, a non-persistent one gone)."""
    if expires > time.time() * 1000:
        return
    from datetime import UTC, datetime

    moment = datetime.fromtimestamp(expires / 1000, UTC).isoformat(timespec="milliseconds")
    raise UsageError(f"its expiry ({moment}) has passed: {doing} it would expire it at once")


def epoch_ms(value: Any) -> int | None:
    """Epoch milliseconds from a number, a digit string or ISO-8601 text; None for 0 or nothing."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value or None
    if not isinstance(value, str) or not value.strip():
        return None
    if value.strip().isdigit():
        return int(value) or None
    from datetime import datetime

    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"expires {value!r} is not an ISO-8601 time") from None
    return round(moment.timestamp() * 1000)


def consumer_queues(topic_name: str, queue_names: Iterable[str]) -> list[str]:
    """The ``Consumer.<name>.VirtualTopic.<topic>`` queues the broker copies a virtual topic's messages to."""
    if not topic_name.startswith(VIRTUAL_PREFIX):
        return []
    suffix = f".{topic_name}"
    return sorted(
        name
        for name in queue_names
        if name.startswith(CONSUMER_PREFIX)
        and name.endswith(suffix)
        and _one_segment(name[len(CONSUMER_PREFIX) : -len(suffix)])
    )


def _one_segment(text: str) -> bool:
    return bool(text) and "." not in text


def _topic_summary(name: str, stats: dict[str, Any], consumer_queue_names: list[str]) -> ChannelSummary:
    """A virtual topic's subscriptions are its consumer queues (as chain show lists them) plus live
    subscribers; a plain topic's are its live subscribers."""
    live = _int(stats.get("consumerCount"))
    if consumer_queue_names:
        live = (live or 0) + len(consumer_queue_names)
    return ChannelSummary(channel=f"amq:topic/{name}", kind="topic", subscriptions=live)


def _summary(kind: Kind, name: str, stats: dict[str, Any], dlq: str | None) -> ChannelSummary:
    if kind == "topic":
        return _topic_summary(name, stats, [])
    return ChannelSummary(
        channel=f"amq:queue/{name}",
        kind="queue",
        depth=_int(stats.get("size")),
        in_flight=_int(stats.get("inflightCount")),
        dlq=dlq,
    )


def dlq_for(name: str, existing_queues: set[str]) -> str | None:
    """The DLQ a queue's dead letters go to: its own ``DLQ.<name>`` if present, else ``ActiveMQ.DLQ``."""
    if name == SHARED_DLQ or name.startswith(INDIVIDUAL_DLQ_PREFIX):
        return None
    for candidate in (f"{INDIVIDUAL_DLQ_PREFIX}{name}", SHARED_DLQ):
        if candidate in existing_queues:
            return f"amq:queue/{candidate}"
    return None


def _parse_stats_map(body: bytes) -> dict[str, Any]:
    """Flatten XStream's map JSON: {"map":{"entry":[{"string":"size","long":3}, {"string":["k","v"]}]}}."""
    if not body.strip():
        return {}
    try:
        document = json.loads(body)
    except ValueError:
        raise MsgctlError("the broker sent statistics that are not JSON") from None
    entries = (document.get("map") or {}) if isinstance(document, dict) else {}
    raw = entries.get("entry", []) if isinstance(entries, dict) else []
    result: dict[str, Any] = {}
    for entry in raw if isinstance(raw, list) else [raw]:
        key = entry.get("string")
        if isinstance(key, list) and len(key) == 2:
            result[str(key[0])] = key[1]
        elif isinstance(key, str):
            values = [v for k, v in entry.items() if k != "string"]
            result[key] = values[0] if values else None
    return result


def _destination_name(stats: dict[str, Any]) -> str | None:
    name = stats.get("destinationName")
    if not isinstance(name, str):
        return None
    return name.split("://", 1)[-1]


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _age_s(timestamp_ms: int) -> float:
    return max(0.0, round(time.time() - timestamp_ms / 1000.0, 3))
