"""ActiveMQ Classic (and Amazon MQ for ActiveMQ) over STOMP 1.2 with stomp.py.

Queue depth and counters come from the broker's ``statisticsBrokerPlugin``: a SEND to
``ActiveMQ.Statistics.Destination.<name>`` with a ``reply-to`` is answered with one map per matching
destination, ended by an empty message when ``...List.End.With.Null`` is set.
"""

from __future__ import annotations

import json
import logging
import queue
import re
import threading
import time
import uuid
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from msgctl.address import Channel, Kind
from msgctl.broker import BrokerTarget
from msgctl.core.ports import Capabilities, ChannelStats, ChannelSummary, OutgoingMessage, SendReceipt
from msgctl.envelope import MessageAttribute
from msgctl.errors import AccessDeniedError, MsgctlError, NotFoundError, UsageError

log = logging.getLogger(__name__)
# stomp.py logs connection failures as warnings; msgctl reports them as its own one-line error instead
# (--debug still shows them: the root handler gets them by propagation).
logging.getLogger("stomp.py").addHandler(logging.NullHandler())
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


@dataclass(frozen=True)
class Frame:
    headers: dict[str, str]
    body: bytes


class _Listener:
    """Routes incoming frames: MESSAGEs by subscription id, RECEIPTs and ERRORs by receipt id."""

    def __init__(self) -> None:
        self.subscriptions: dict[str, queue.Queue[Frame | MsgctlError]] = {}
        self.receipts: dict[str, queue.Queue[Frame | MsgctlError]] = {}
        self.connect_error: str | None = None
        self.connected = False
        self.answered = threading.Event()  # CONNECTED, an ERROR, or the connection closed: CONNECT is over

    def on_connected(self, frame: Any) -> None:
        self.connected = True
        self.answered.set()

    def on_message(self, frame: Any) -> None:
        target = self.subscriptions.get(frame.headers.get("subscription", ""))
        if target is not None:
            target.put(Frame(dict(frame.headers), _as_bytes(frame.body)))

    def on_receipt(self, frame: Any) -> None:
        waiter = self.receipts.get(frame.headers.get("receipt-id", ""))
        if waiter is not None:
            waiter.put(Frame(dict(frame.headers), b""))

    def on_error(self, frame: Any) -> None:
        message = frame.headers.get("message", "broker error")
        waiter = self.receipts.get(frame.headers.get("receipt-id", ""))
        if waiter is not None:
            waiter.put(_stomp_error(message))
        else:
            self.connect_error = message
            self.answered.set()
            self._fail_all(_stomp_error(message))

    def on_disconnected(self) -> None:
        self.answered.set()
        self._fail_all(MsgctlError("the broker closed the connection", "Disconnected"))

    def _fail_all(self, error: MsgctlError) -> None:
        """Wake every wait with the error instead of letting it run into its timeout."""
        for pending in [*self.receipts.values(), *self.subscriptions.values()]:
            pending.put(error)


class PendingReceipt:
    """A frame sent with a receipt header; ``wait`` returns once the broker confirmed it, or raises."""

    def __init__(
        self,
        waiting: dict[str, queue.Queue[Frame | MsgctlError]],
        receipt: str,
        timeout_message: str,
        timeout_s: float,
    ) -> None:
        self.waiting, self.receipt, self.timeout_message = waiting, receipt, timeout_message
        self.timeout_s = timeout_s
        self.inbox: queue.Queue[Frame | MsgctlError] = queue.Queue()
        waiting[receipt] = self.inbox

    def wait(self) -> None:
        try:
            _get(self.inbox, self.timeout_message, self.timeout_s)
        finally:
            self.waiting.pop(self.receipt, None)


class StompSession:
    """One STOMP connection with request/reply helpers; a context manager that disconnects on exit."""

    def __init__(self, target: BrokerTarget) -> None:
        self.target = target
        self._listener = _Listener()
        self._conn: Any = None
        self._connecting = threading.Lock()
        self._wire: _Wire | None = None
        self.reply_timeout_s = target.timeouts.read

    def __enter__(self) -> StompSession:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def connect(self) -> None:
        import stomp
        from stomp.exception import ConnectFailedException

        hosts = [(e.host, e.port) for e in self.target.endpoints]
        timeouts = self.target.timeouts
        heartbeat_ms = int(timeouts.read * 1000)
        conn = stomp.Connection12(
            host_and_ports=hosts,
            heartbeats=(heartbeat_ms, heartbeat_ms),
            auto_decode=False,
            reconnect_attempts_max=1,
            timeout=timeouts.connect,
        )
        # The message type is chosen per frame (body_headers): a content-length makes a BytesMessage.
        conn.auto_content_length = False
        if self.target.ca_file and not Path(self.target.ca_file).expanduser().is_file():
            raise UsageError(f"CA file {self.target.ca_file}: no such file")
        for endpoint in self.target.endpoints:
            if endpoint.ssl:
                conn.set_ssl(
                    for_hosts=[(endpoint.host, endpoint.port)],
                    ca_certs=str(Path(self.target.ca_file).expanduser()) if self.target.ca_file else None,
                    verify=self.target.verify,
                )
        conn.set_listener("msgctl", self._listener)
        try:
            # stomp.py's own wait for CONNECTED has no limit: an endpoint that accepts and never answers
            # would hold msgctl forever. The listener says when CONNECT is over, within the connect timeout.
            conn.connect(
                self.target.user, self.target.password, wait=False, headers={"client-id": _new_id("msgctl")}
            )
        except (ConnectFailedException, OSError) as exc:
            _stop(conn)
            raise self._connect_failure() from exc
        if not self._listener.answered.wait(timeouts.connect) or not self._listener.connected:
            _stop(conn)
            raise self._connect_failure(self._no_answer(timeouts.connect))
        self._conn = conn
        log.info("connected to %s", self.target.label)

    def _no_answer(self, connect_timeout: float) -> str:
        if self._listener.answered.is_set():
            return "the endpoint closed the connection without a STOMP answer: is this a STOMP port?"
        return f"no STOMP answer within {connect_timeout:g} s (a paused broker, or not a STOMP port?)"

    def _connect_failure(self, fallback: str | None = None) -> MsgctlError:
        reason = self._listener.connect_error
        if reason and ("User name" in reason or "password" in reason or "ecurity" in reason):
            return AccessDeniedError(f"broker {self.target.label} refused the login: {reason}", "STOMP ERROR")
        detail = reason or self._tls_problem() or fallback or "connection refused or timed out"
        return MsgctlError(f"cannot connect to broker {self.target.label}: {detail}", "ConnectFailed")

    def _tls_problem(self) -> str | None:
        """Why a TLS handshake fails, in words (stomp.py only reports that it could not connect)."""
        import socket
        import ssl

        for endpoint in (e for e in self.target.endpoints if e.ssl):
            context = ssl.create_default_context(cafile=self.target.ca_file)
            if not self.target.verify:
                context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
            try:
                with (
                    socket.create_connection(
                        (endpoint.host, endpoint.port), timeout=self.target.timeouts.connect
                    ) as raw,
                    context.wrap_socket(raw, server_hostname=endpoint.host),
                ):
                    continue
            except ssl.SSLCertVerificationError as exc:
                return (
                    f"the TLS certificate of {endpoint} is not trusted ({exc.verify_message}): "
                    "pass --ca-file with its CA, or --insecure"
                )
            except ssl.SSLError as exc:
                return f"TLS handshake with {endpoint} failed: {exc.reason or exc}"
            except OSError:
                continue
        return None

    def close(self) -> None:
        if self._conn is not None:
            _stop(self._conn)
            self._conn = None

    @property
    def conn(self) -> Any:
        """The stomp.py connection, its errors (a connection lost mid-way) turned into msgctl's own."""
        with self._connecting:  # workers share the session: one connection, made once
            if self._conn is None:
                self.connect()
            if self._wire is None or self._wire.raw is not self._conn:
                self._wire = _Wire(self._conn, self.target.label)
            return self._wire

    def subscribe(
        self, destination: str, headers: dict[str, str] | None = None, ack: str = "auto"
    ) -> tuple[str, queue.Queue[Frame | MsgctlError]]:
        sub_id = _new_id("sub")
        inbox: queue.Queue[Frame | MsgctlError] = queue.Queue()
        self._listener.subscriptions[sub_id] = inbox
        self.conn.subscribe(destination, id=sub_id, ack=ack, headers=headers or {})
        return sub_id, inbox

    def receive(
        self, inbox: queue.Queue[Frame | MsgctlError], what: str, timeout_s: float | None = None
    ) -> Frame:
        wait_s = self.reply_timeout_s if timeout_s is None else timeout_s
        return _get(inbox, f"nothing received from {what} within {wait_s:g} s", wait_s)

    def nack(self, frame: Frame) -> None:
        """Refuse a message; ActiveMQ sends a NACKed message straight to its DLQ."""
        self._confirmed("NACK", lambda receipt: self.conn.nack(frame.headers["ack"], receipt=receipt))

    def ack(self, frame: Frame) -> None:
        self._confirmed("ACK", lambda receipt: self.conn.ack(frame.headers["ack"], receipt=receipt))

    def commit(self, transaction: str) -> None:
        """COMMIT, confirmed by the broker's RECEIPT (or its ERROR)."""
        self.start_commit(transaction).wait()

    def start_commit(self, transaction: str) -> PendingReceipt:
        """COMMIT without waiting: the caller waits on the result, so the broker can write one transaction
        while the next one is being sent."""
        return self._request(
            f"COMMIT {transaction}",
            lambda receipt: self.conn.commit(transaction=transaction, headers={"receipt": receipt}),
        )

    def touch(self, destination: str) -> None:
        """Make a destination exist: subscribe (confirmed by a receipt), then unsubscribe."""
        sub_id = _new_id("sub")
        self._confirmed(
            f"SUBSCRIBE {destination}",
            lambda receipt: self.conn.subscribe(
                destination, id=sub_id, ack="auto", headers={"receipt": receipt}
            ),
        )
        self.conn.unsubscribe(id=sub_id)

    def _confirmed(self, what: str, frame: Callable[[str], None]) -> None:
        """Send a frame with a receipt header and wait for the broker's RECEIPT (or its ERROR)."""
        self._request(what, frame).wait()

    def _request(self, what: str, frame: Callable[[str], None]) -> PendingReceipt:
        receipt = _new_id("rcpt")
        pending = PendingReceipt(
            self._listener.receipts,
            receipt,
            f"no receipt from {self.target.label} for {what} within {self.reply_timeout_s:g} s",
            self.reply_timeout_s,
        )
        try:
            frame(receipt)
        except BaseException:
            self._listener.receipts.pop(receipt, None)
            raise
        return pending

    def unsubscribe(self, sub_id: str) -> None:
        self.conn.unsubscribe(id=sub_id)
        self._listener.subscriptions.pop(sub_id, None)

    def send(self, destination: str, body: bytes, headers: dict[str, str]) -> None:
        """SEND and wait for the broker's RECEIPT, so a returned call means the broker has the message."""
        self._confirmed(
            f"the message sent to {destination}",
            lambda receipt: self.conn.send(destination, body, headers={**headers, "receipt": receipt}),
        )

    def statistics(self, query: str, kind: Kind) -> list[dict[str, Any]]:
        """Ask the statistics plugin about destinations matching ``query`` (ActiveMQ wildcards allowed)."""
        reply_to = f"/temp-queue/{_new_id('msgctl-stats')}"
        sub_id, inbox = self.subscribe(reply_to, {"transformation": "jms-map-json"})
        try:
            self.send(
                f"/{kind}/{STATS_PREFIX}{query}",
                b"",
                {"reply-to": reply_to, "ActiveMQ.Statistics.Destination.List.End.With.Null": "true"},
            )
            replies: list[dict[str, Any]] = []
            while True:
                frame = _get(
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
            while (frame := _get(inbox, silent, self.reply_timeout_s)).headers.get("browser") != "end":
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
        self._session: StompSession | None = None

    @property
    def session(self) -> StompSession:
        if self._session is None:
            self._session = StompSession(self.target)  # connects on first use
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
            oldest_age_s=self._oldest_age(channel, stats),
            details=details,
        )

    def _consumer_queues(self, topic_name: str) -> list[str]:
        if not topic_name.startswith(VIRTUAL_PREFIX):
            return []
        found = {name for name, _ in self.destinations(f"Consumer.*.{topic_name}", "queue")}
        return consumer_queues(topic_name, found)

    def _oldest_age(self, channel: Channel, stats: dict[str, Any]) -> float | None:
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


def body_headers(body: bytes, bytes_message: bool) -> dict[str, str]:
    """How the broker types the message: a content-length without ``amq-msg-type:text`` makes a
    BytesMessage; no content-length a TextMessage (which cannot hold a NUL without one)."""
    if bytes_message or not _is_text(body):
        return {"content-length": str(len(body))}
    if b"\x00" in body:
        return {"amq-msg-type": "text", "content-length": str(len(body))}
    return {}


def is_bytes_message(headers: dict[str, str]) -> bool:
    """A delivered BytesMessage carries a content-length; a TextMessage only when sent with
    ``amq-msg-type:text`` (which the broker then keeps as a property, as it keeps the content-length)."""
    return "content-length" in headers and headers.get("amq-msg-type") != "text"


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


def _get(inbox: queue.Queue[Any], timeout_message: str, timeout_s: float) -> Frame:
    """The next frame, or the error the listener put there (ERROR frame, dropped connection)."""
    try:
        item = inbox.get(timeout=timeout_s)
    except queue.Empty:
        raise MsgctlError(timeout_message, "Timeout") from None
    if isinstance(item, MsgctlError):
        raise item
    return item  # type: ignore[no-any-return]


def _stomp_error(message: str) -> MsgctlError:
    if "not authorized" in message.lower() or "ecurity" in message:
        return AccessDeniedError(message, "STOMP ERROR")
    return MsgctlError(message, "STOMP ERROR")


def _as_bytes(body: Any) -> bytes:
    return body if isinstance(body, bytes) else str(body or "").encode("utf-8")


def _is_text(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


class _Wire:
    """A stomp.py connection whose calls raise MsgctlError instead of stomp.py's exceptions."""

    def __init__(self, conn: Any, label: str) -> None:
        self.raw, self._label = conn, label

    def send(self, destination: str, body: bytes, headers: dict[str, str], **kwargs: Any) -> Any:
        """A frame without a type of its own goes as text when it can, else as bytes (never cut at a NUL)."""
        if "content-length" not in headers:
            headers = {**body_headers(body, False), **headers}
        return self.__getattr__("send")(destination, body, headers=headers, **kwargs)

    def __getattr__(self, name: str) -> Any:
        from stomp.exception import StompException

        attribute = getattr(self.raw, name)
        if not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return attribute(*args, **kwargs)
            except (StompException, OSError) as exc:
                detail = str(exc) or type(exc).__name__
                raise MsgctlError(
                    f"lost the connection to broker {self._label} ({detail})", "Disconnected"
                ) from exc

        return call


def _stop(conn: Any) -> None:
    try:
        if conn.is_connected():
            conn.disconnect()
    except Exception:  # closing is best effort; the socket goes with the process anyway
        pass
