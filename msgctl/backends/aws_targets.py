"""Senders to SQS queues and SNS topics, for redrive and replay: batches of 10 (cut by the target's size
limit), every attribute type, FIFO group and deduplication ids, and a per-message account of what the target
did not confirm."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from msgctl.address import Channel
from msgctl.backends.aws import AwsClients, aws_errors
from msgctl.backends.sqs import SqsBackend, to_sqs_attribute, to_sqs_value
from msgctl.core.outbound import HELD_BACK, Delivery, HoldBack, Outbound, OutboundT
from msgctl.envelope import SUBJECT, TRACE_HEADER, Envelope, MessageAttribute, is_notification
from msgctl.errors import AccessDeniedError, MsgctlError, NotFoundError, UsageError

BATCH = 10
NOT_TEXT = "the body is not text; SQS bodies must be UTF-8"
THROTTLED = frozenset({"ThrottlingException", "Throttling", "RequestThrottled", "TooManyRequestsException"})
DEFAULT_MAX_MESSAGE_SIZE = 262_144
SNS_MAX_BYTES = 262_144  # per message and per PublishBatch request (the sum of its entries)


Batch = list[tuple[OutboundT, dict[str, Any]]]
MAX_ATTRIBUTES = 10  # message attributes a message may carry, on SQS and on SNS


def check_attributes(attributes: dict[str, MessageAttribute], sns: bool) -> None:
    """What SQS and SNS refuse in message attributes: more than 10, a type that is none of theirs, a Number
    that is no number."""
    if len(attributes) > MAX_ATTRIBUTES:
        raise UsageError(f"{len(attributes)} message attributes: at most {MAX_ATTRIBUTES} are allowed")
    for name, attribute in attributes.items():
        # SNS has a String.Array type; SQS holds one as a String of custom type Array
        base = attribute.base_type if sns else attribute.type.split(".", 1)[0]
        if base not in ("String", "Number", "Binary", "String.Array"):
            raise UsageError(f"attribute {name!r}: type {attribute.type!r} is no String, Number or Binary")
        if base == "Number":
            try:
                float(str(attribute.value))
            except ValueError:
                raise UsageError(f"attribute {name!r}: {attribute.value!r} is not a number") from None


class TooLargeError(UsageError):
    """A message over the target's size limit (a replay with --payload-bucket puts its body in S3)."""


class _BatchTarget:
    """Sends in batches cut by count (10) and by ``max_bytes``, in the order given; a subclass makes each
    entry and makes the batch request."""

    channel: str
    client: Any
    fifo: bool
    dedups: bool
    max_bytes: int
    size_limit: str  # what an entry over max_bytes is over
    batch_size = BATCH

    def send(self, messages: list[OutboundT]) -> Delivery[OutboundT]:
        """Never raises for the target's errors: what was not confirmed comes back as failed, with why.
        On a FIFO target, once a message of a group fails, the rest of that group is not sent (order)."""
        return _in_batches(messages, self._sized_entry, self._send_batch, self.max_bytes, self.fifo)

    def check(self, message: Outbound) -> None:
        """Raise UsageError when the target cannot take the message (body, attributes, size)."""
        check_attributes(message.envelope.message_attributes, sns=True)
        self._sized_entry(message)

    def size_of(self, envelope: Envelope) -> int:
        """What the target counts against ``max_bytes``: the body, each attribute's name, type and value."""
        return message_size(envelope.body, envelope.message_attributes)

    def takes_pointer(self, envelope: Envelope) -> bool:
        """The body is what the target sends (a topic sends an SNS notification's Message instead)."""
        return True

    def _sized_entry(self, message: Outbound) -> tuple[dict[str, Any], int]:
        entry = self._entry(message)
        if self.fifo:
            entry["MessageGroupId"] = message.group_id or "msgctl-redrive"
            entry["MessageDeduplicationId"] = message.dedup_id
        return entry, self._within_limit(_size(entry))

    def _within_limit(self, size: int) -> int:
        if size > self.max_bytes:
            raise TooLargeError(f"{size} bytes: over {self.size_limit}")
        return size

    def _entry(self, message: Outbound) -> dict[str, Any]:
        raise NotImplementedError

    def _request(self, entries: list[dict[str, Any]]) -> dict[str, Any]:
        raise NotImplementedError

    def _send_batch(
        self, batch: Batch[OutboundT], delivery: Delivery[OutboundT]
    ) -> list[tuple[OutboundT, str]]:
        chunk = [message for message, _ in batch]
        entries = [{"Id": str(n), **entry} for n, (_, entry) in enumerate(batch)]
        try:
            response = self._request(entries)
        except MsgctlError as exc:  # not confirmed: it stays in the DLQ, and may have arrived all the same
            if outcome_unknown(exc):
                delivery.unsure += chunk
            return [(message, str(exc)) for message in chunk]
        reasons = {f["Id"]: f"{f.get('Code')}: {f.get('Message', '')}" for f in response.get("Failed", [])}
        confirmed = {item["Id"] for item in response.get("Successful", [])}
        delivery.target_ids += _target_ids(response, chunk)
        if _retried(response) and not self.dedups:
            delivery.maybe_twice += [m for n, m in enumerate(chunk) if str(n) in confirmed]
        # An entry neither confirmed nor failed is not known to have arrived: it stays in the DLQ.
        return [
            (m, reasons.get(str(n), "not confirmed")) for n, m in enumerate(chunk) if str(n) not in confirmed
        ]


class SqsTarget(_BatchTarget):
    """An SQS queue: batches also cut by the queue's MaximumMessageSize."""

    def __init__(self, backend: SqsBackend, channel: Channel) -> None:
        self.channel = str(channel)
        self.client = backend.client_for(channel)
        self.url = backend.queue_url(channel)
        attributes = backend.queue_attributes(channel)
        self.fifo = attributes.get("FifoQueue") == "true"
        self.dedups = self.fifo  # drops a resend of a deduplication id within 5 minutes
        self.ordered = self.fifo
        self.max_bytes = int(attributes.get("MaximumMessageSize", DEFAULT_MAX_MESSAGE_SIZE))
        self.size_limit = f"the target's MaximumMessageSize {self.max_bytes}"

    def check(self, message: Outbound) -> None:
        """What sending checks (a text body, attribute types, the size), without making the request's entry:
        replay checks every message of its input so."""
        envelope = message.envelope
        if envelope.text is None:
            raise UsageError(NOT_TEXT)
        if envelope.message_attributes:
            check_attributes(envelope.message_attributes, sns=False)
        if (size := message_size(envelope.body, envelope.message_attributes)) > self.max_bytes:
            self._within_limit(size)

    def _entry(self, message: Outbound) -> dict[str, Any]:
        text = message.envelope.text
        if text is None:
            raise UsageError(NOT_TEXT)
        entry: dict[str, Any] = {"MessageBody": text}
        if message.envelope.message_attributes:
            entry["MessageAttributes"] = {
                name: to_sqs_attribute(name, attribute)
                for name, attribute in message.envelope.message_attributes.items()
            }
        trace_header = message.envelope.attributes.get(TRACE_HEADER)
        if trace_header:
            entry["MessageSystemAttributes"] = {
                "AWSTraceHeader": {"DataType": "String", "StringValue": str(trace_header)}
            }
        return entry

    def _request(self, entries: list[dict[str, Any]]) -> dict[str, Any]:
        with aws_errors(f"cannot send to {self.channel}"):
            response: dict[str, Any] = self.client.send_message_batch(QueueUrl=self.url, Entries=entries)
        return response


class SnsTarget(_BatchTarget):
    """An SNS topic: batches also cut by SNS's 256 KB per request; an SNS envelope left by a non-raw
    subscription is unwrapped."""

    def __init__(self, clients: AwsClients, topic_arn: str, channel: Channel) -> None:
        self.channel = str(channel)
        self.client = clients.client("sns", channel.region)
        self.topic_arn = topic_arn
        self.fifo = channel.fifo
        self.dedups = self.ordered = self.fifo
        self.max_bytes = SNS_MAX_BYTES
        self.size_limit = f"SNS's limit of {self.max_bytes} bytes a message"

    def takes_pointer(self, envelope: Envelope) -> bool:
        return not is_notification(envelope.text)

    def _entry(self, message: Outbound) -> dict[str, Any]:
        return _unwrapped(message)

    def _request(self, entries: list[dict[str, Any]]) -> dict[str, Any]:
        with aws_errors(f"cannot publish to {self.channel}"):
            response: dict[str, Any] = self.client.publish_batch(
                TopicArn=self.topic_arn, PublishBatchRequestEntries=entries
            )
        return response


def _in_batches(
    messages: list[OutboundT],
    sized_entry: Callable[[OutboundT], tuple[dict[str, Any], int]],
    send_batch: Callable[[Batch[OutboundT], Delivery[OutboundT]], list[tuple[OutboundT, str]]],
    max_bytes: int,
    fifo: bool,
) -> Delivery[OutboundT]:
    """Send in the order given, in batches of at most 10 entries and ``max_bytes`` (the sum of the
    entries). On a FIFO target, once a message of a group fails, the rest of that group is not sent."""
    delivery: Delivery[OutboundT] = Delivery()
    hold_back = HoldBack(ungrouped=True, keep_order=fifo, reason=f"{HELD_BACK} (FIFO order)")
    batch: Batch[OutboundT] = []
    size = 0

    def flush() -> None:
        nonlocal batch, size
        for message, reason in send_batch(batch, delivery) if batch else []:
            delivery.failed.append((message, reason))
            hold_back.fail(message)
        batch, size = [], 0

    for message in messages:
        if hold_back.holds(message):
            delivery.failed.append((message, hold_back.reason))
            continue
        try:
            entry, entry_size = sized_entry(message)
        except UsageError as exc:
            delivery.failed.append((message, exc.message))
            hold_back.fail(message)
            continue
        if len(batch) == BATCH or size + entry_size > max_bytes:
            flush()
        batch.append((message, entry))
        size += entry_size
    flush()
    return delivery


def outcome_unknown(exc: MsgctlError) -> bool:
    """A request that failed after botocore's retries may still have been carried out (a lost reply, a
    server error), unless AWS refused it outright (throttled, denied, invalid, no such queue, or any
    client error answered to the only attempt, such as BatchRequestTooLong)."""
    refused = isinstance(exc, UsageError | AccessDeniedError | NotFoundError) or _refused_at_once(exc)
    return not refused and exc.code not in THROTTLED


def _refused_at_once(exc: MsgctlError) -> bool:
    """AWS answered the one and only attempt with a 4xx: it did not carry the request out. After retries,
    an earlier attempt (a 5xx, a lost reply) may have been."""
    response = getattr(exc.__cause__, "response", None)
    if not isinstance(response, dict):
        return False
    metadata = response.get("ResponseMetadata", {})
    status = metadata.get("HTTPStatusCode")
    return isinstance(status, int) and 400 <= status < 500 and not metadata.get("RetryAttempts")


def _target_ids(response: dict[str, Any], sent: list[OutboundT]) -> list[tuple[OutboundT, str]]:
    """Each confirmed message with the MessageId the target answered (the entry Ids are list indexes)."""
    return [
        (sent[int(item["Id"])], str(item["MessageId"]))
        for item in response.get("Successful", [])
        if item.get("MessageId")
    ]


def _retried(response: dict[str, Any]) -> bool:
    """botocore retried the request (a 5xx, a throttle, or a lost reply: then the first attempt may have
    been carried out too)."""
    return bool(response.get("ResponseMetadata", {}).get("RetryAttempts"))


def _unwrapped(message: Outbound) -> dict[str, Any]:
    """The publish fields (Message, MessageAttributes, Subject) of a message, or of the original message
    when it is an SNS notification left by a non-raw subscription."""
    from msgctl.backends.sns import to_sns_attribute

    text = message.envelope.text
    if text is None:
        raise UsageError("the body is not text; SNS messages must be UTF-8")
    try:
        notification = json.loads(text)
    except ValueError:
        notification = None
    if (
        isinstance(notification, dict)
        and notification.get("Type") == "Notification"
        and "Message" in notification
    ):
        raw = notification.get("MessageAttributes") or {}
        if not isinstance(raw, dict) or not all(isinstance(v, dict) for v in raw.values()):
            raise UsageError("an SNS notification whose MessageAttributes are not objects")
        attributes = {
            name: to_sns_attribute(
                name, MessageAttribute(str(value.get("Type", "String")), _attribute_value(value))
            )
            for name, value in raw.items()
        }
        return _publish_fields(str(notification["Message"]), attributes, notification.get("Subject"))
    attributes = {name: to_sns_attribute(name, a) for name, a in message.envelope.message_attributes.items()}
    return _publish_fields(text, attributes, message.envelope.attributes.get(SUBJECT))


def _publish_fields(body: str, attributes: dict[str, Any], subject: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {"Message": body}
    if attributes:
        fields["MessageAttributes"] = attributes
    if subject:
        fields["Subject"] = str(subject)
    return fields


def _attribute_value(value: dict[str, Any]) -> str | bytes:
    """An SNS envelope carries Binary attribute values as base64 text."""
    text = str(value.get("Value", ""))
    if str(value.get("Type", "")).startswith("Binary"):
        from msgctl.envelope import b64decode

        return b64decode(text, "a binary attribute of an SNS notification")
    return text


def _size(entry: dict[str, Any]) -> int:
    """What SQS and SNS count against their limits: the body, and each attribute's name, type and value
    (UTF-8 bytes; an ASCII text's length is its size, found without encoding it: this runs once a message)."""
    body = entry["MessageBody"] if "MessageBody" in entry else entry.get("Message", "")
    size = _utf8_size(body)
    for name, attribute in entry.get("MessageAttributes", {}).items():
        value = attribute["StringValue"] if "StringValue" in attribute else attribute.get("BinaryValue", b"")
        size += _utf8_size(name) + _utf8_size(attribute["DataType"])
        size += len(value) if isinstance(value, bytes) else _utf8_size(str(value))
    return size


def message_size(body: bytes, attributes: dict[str, MessageAttribute]) -> int:
    """``_size`` of the entry SqsTarget makes of a message with a UTF-8 body and these attributes (each
    attribute's texts measured together: this runs once a message of a replay's input)."""
    size = len(body)
    for name, attribute in attributes.items():
        kind, value = attribute
        if type(value) is not str:
            value = to_sqs_value(name, attribute)
            if isinstance(value, bytes):
                size += len(value)
                value = ""
        text = name + kind + value
        size += len(text) if text.isascii() else len(text.encode("utf-8"))
    return size


def _utf8_size(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8"))
