"""Large payloads kept in S3 by the Amazon SQS/SNS Extended Client libraries.

Such a message's body is a pointer, ``["software.amazon.payloadoffloading.PayloadS3Pointer", {"s3BucketName":
"...", "s3Key": "..."}]`` (older clients: ``com.amazon.sqs.javamessaging.MessageS3Pointer``), with a Number
message attribute ``ExtendedPayloadSize`` (older: ``SQSLargePayloadSize``) giving the payload's size. A
topic's non-raw delivery wraps it in an SNS notification: the pointer is its Message, the attribute is one
of its MessageAttributes. msgctl marks such an envelope with ``attributes.payload = {"s3": "s3://B/K",
"size": N}`` and keeps the pointer as it is, so a move sends it again byte for byte and the extended client
on the consumer side still reads it. Resolving puts the payload in the envelope instead (``resolved``),
as the extended client's receive does: the size attribute goes, since the body is no pointer any more.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import suppress
from dataclasses import dataclass, replace
from typing import Any, Literal, Protocol, TypeVar

from msgctl.core.outbound import Delivery, HoldBack, Outbound
from msgctl.core.parallel import ordered_map, parallel_map, read_workers
from msgctl.envelope import Envelope, MessageAttribute
from msgctl.errors import MsgctlError, UsageError

POINTER_CLASS = "software.amazon.payloadoffloading.PayloadS3Pointer"
LEGACY_POINTER_CLASS = "com.amazon.sqs.javamessaging.MessageS3Pointer"
SIZE_ATTRIBUTE = "ExtendedPayloadSize"
LEGACY_SIZE_ATTRIBUTE = "SQSLargePayloadSize"
SIZE_ATTRIBUTES = (SIZE_ATTRIBUTE, LEGACY_SIZE_ATTRIBUTE)
PAYLOAD = "payload"  # the envelope attribute that marks a pointer message
# A pointer, even inside an SNS notification, is far shorter: a longer body is no pointer.
_LONGEST_POINTER = 8192
_MARK = "S3Pointer"  # in both classes' names: a body without it is no pointer, and is not parsed
POINTER_MARK = _MARK.encode()

PayloadMode = Literal["pointer", "resolve"]
PAYLOAD_MODES: tuple[PayloadMode, ...] = ("pointer", "resolve")
T = TypeVar("T")


class PayloadError(MsgctlError):
    """A payload could not be read, written or deleted; the message names the object."""


@dataclass(frozen=True)
class Pointer:
    bucket: str
    key: str
    size: int | None
    wrapped: bool = False  # the pointer is the Message of an SNS notification

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def to_json(self) -> dict[str, Any]:
        described: dict[str, Any] = {"s3": self.url}
        if self.size is not None:
            described["size"] = self.size
        return described


def may_point(text: str | None) -> bool:
    """False for a body that is surely no pointer (the cheap test every message read takes)."""
    return text is not None and len(text) <= _LONGEST_POINTER and _MARK in text


def pointer_of(envelope: Envelope) -> Pointer | None:
    """The S3 object an extended-client message points to, or None for any other message."""
    text = envelope.text
    if not may_point(text):
        return None
    assert text is not None
    size = _size(envelope.message_attributes.get(SIZE_ATTRIBUTE)) or _size(
        envelope.message_attributes.get(LEGACY_SIZE_ATTRIBUTE)
    )
    if size is not None:
        found = _parse_pointer(text)
        return Pointer(found[0], found[1], size[0]) if found else None
    notification = _notification(text)
    if notification is None:
        return None
    attributes = notification.get("MessageAttributes")
    if not isinstance(attributes, dict):
        return None
    size = _notification_size(attributes.get(SIZE_ATTRIBUTE)) or _notification_size(
        attributes.get(LEGACY_SIZE_ATTRIBUTE)
    )
    found = _parse_pointer(notification["Message"]) if size is not None else None
    return Pointer(found[0], found[1], size[0], wrapped=True) if found and size else None


def pointer_candidate(item: Any) -> Envelope | None:
    """The envelope of an item (an NDJSON line, an envelope dict, an Envelope) that may be a pointer
    message; None for any other, and for one that is malformed (whoever reads it names that)."""
    if isinstance(item, Envelope):
        return item
    try:
        if isinstance(item, bytes):
            item = item.decode("utf-8") if POINTER_MARK in item else ""
        if isinstance(item, str):
            return Envelope.loads(item) if _MARK in item else None
        return Envelope.from_json(item) if isinstance(item, dict) else None
    except (UsageError, UnicodeDecodeError):
        return None


def marked(envelope: Envelope) -> Envelope:
    """The envelope with ``attributes.payload`` when it is a pointer message (else the envelope itself)."""
    pointer = pointer_of(envelope)
    if pointer is None:
        return envelope
    return replace(envelope, attributes={**envelope.attributes, PAYLOAD: pointer.to_json()})


def resolved(envelope: Envelope, pointer: Pointer, payload: bytes) -> Envelope:
    """The envelope as the producer sent it: the payload as its body (or its notification's Message), the
    size attribute gone, and ``attributes.payload.resolved`` true."""
    attributes = {**envelope.attributes, PAYLOAD: {**pointer.to_json(), "resolved": True}}
    if not pointer.wrapped:
        kept = {k: v for k, v in envelope.message_attributes.items() if k not in SIZE_ATTRIBUTES}
        return replace(envelope, body=payload, attributes=attributes, message_attributes=kept)
    notification = _notification(envelope.text or "")
    assert notification is not None, "a wrapped pointer was found in a notification"
    try:
        notification["Message"] = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise PayloadError(
            f"{pointer.url}: the payload is not UTF-8 text, as an SNS message must be"
        ) from None
    message_attributes = notification.get("MessageAttributes")
    if isinstance(message_attributes, dict):
        for name in SIZE_ATTRIBUTES:
            message_attributes.pop(name, None)
    body = json.dumps(notification, ensure_ascii=False).encode("utf-8")
    return replace(envelope, body=body, attributes=attributes)


def unresolved(envelope: Envelope, pointer: Pointer, reason: str) -> Envelope:
    """The pointer message as it is, its ``attributes.payload.error`` saying why the payload was not read."""
    return replace(
        envelope, attributes={**envelope.attributes, PAYLOAD: {**pointer.to_json(), "error": reason}}
    )


def failure(envelope: Envelope) -> str | None:
    """Why a pointer envelope's payload could not be read (None when it was, or it is no pointer)."""
    payload = envelope.attributes.get(PAYLOAD)
    return payload.get("error") if isinstance(payload, dict) else None


def named_failure(envelope: Envelope) -> str | None:
    """The line that names a message whose payload could not be read, and why (None for any other)."""
    why = failure(envelope)
    return None if why is None else f"message {envelope.id}: {why}"


def pointer_body(bucket: str, key: str) -> bytes:
    """The body the extended clients send for a payload they put in S3 (the Java client's spelling)."""
    return json.dumps([POINTER_CLASS, {"s3BucketName": bucket, "s3Key": key}], separators=(",", ":")).encode()


def new_key() -> str:
    return str(uuid.uuid4())  # as the extended clients name their objects


def size_attribute(payload: bytes) -> MessageAttribute:
    return MessageAttribute("Number", str(len(payload)))


class PayloadStore(Protocol):
    """Where payloads live (S3). Errors are ``PayloadError``s naming the object."""

    def get(self, pointer: Pointer) -> bytes: ...

    def put(self, bucket: str, key: str, payload: bytes) -> None: ...

    def delete(self, pointer: Pointer) -> None: ...


class Resolver:
    """Puts payloads into pointer envelopes, ``workers`` objects at a time. A payload that cannot be read
    leaves its envelope a pointer with ``attributes.payload.error``, and one line in ``failures``."""

    def __init__(self, store: PayloadStore, workers: int | None = None) -> None:
        self.store = store
        self.workers = workers or read_workers()
        self.failures: list[str] = []
        # read ahead by ``prefetch``, taken by ``resolve``
        self._fetched: dict[str, bytes | PayloadError] = {}

    def resolve(self, envelope: Envelope) -> Envelope:
        pointer = pointer_of(envelope)
        if pointer is None:
            return envelope
        try:
            payload = self._fetched.pop(pointer.url, None)
            if isinstance(payload, PayloadError):
                raise payload
            return resolved(envelope, pointer, payload if payload is not None else self.store.get(pointer))
        except PayloadError as exc:
            left = unresolved(envelope, pointer, str(exc))
            self.failures.append(str(named_failure(left)))
            return left

    def judged(self, envelopes: list[Envelope]) -> list[tuple[Envelope, str | None]]:
        """Each envelope with its payload read in (several at a time), and why it could not be, if so."""
        read = parallel_map(self.resolve, envelopes, self.workers)
        return [(envelope, failure(envelope)) for envelope in read]

    def stream(
        self,
        envelopes: Iterable[T],
        envelope_of: Callable[[T], Envelope | None],
        most: int | None = None,
    ) -> Iterator[T]:
        """The items in order, their envelopes resolved, with at most twice ``workers`` payloads (and at
        most ``most`` items) read ahead: memory stays bounded, and a reader that wants ``most`` items takes
        few more from ``envelopes``. An item whose envelope is None (tail's "nothing arrived" tick) first
        waits for those before it."""

        def resolve(item: T) -> T:
            envelope = envelope_of(item)
            if envelope is None or pointer_of(envelope) is None:
                return item
            return _rebuilt(item, self.resolve(envelope))

        ahead = 2 * self.workers if most is None else max(1, min(2 * self.workers, most))
        return ordered_map(resolve, envelopes, self.workers, ahead=ahead, flush_on=lambda item: item is None)

    def prefetch(self, items: Iterable[T], envelope_of: Callable[[T], Envelope | None]) -> Iterator[T]:
        """The items as they are, once the payload of each pointer among them is read (several at a time,
        a bounded number ahead): a ``resolve`` of that message then takes it without waiting."""

        def fetch(item: T) -> T:
            envelope = envelope_of(item)
            pointer = pointer_of(envelope) if envelope is not None else None
            if pointer is not None and pointer.url not in self._fetched:
                try:
                    self._fetched[pointer.url] = self.store.get(pointer)
                except PayloadError as exc:  # (a read of the same object that worked is kept)
                    self._fetched.setdefault(pointer.url, exc)
            return item

        return ordered_map(fetch, items, self.workers, ahead=2 * self.workers)


def _rebuilt(item: T, envelope: Envelope) -> T:
    if isinstance(item, Envelope):
        return envelope  # type: ignore[return-value]
    rebuild = getattr(item, "with_envelope", None)
    if rebuild is None:
        raise TypeError(f"cannot put an envelope back into {type(item).__name__}")
    return rebuild(envelope)  # type: ignore[no-any-return]


def chosen_mode(mode: str | None, policy: Any) -> PayloadMode:
    """The mode a command runs in: as asked, else ``resolve`` when a filter reads bodies, else ``pointer``."""
    if mode is not None:
        return payload_mode(mode)
    return "resolve" if getattr(policy, "scope", None) == "body" else "pointer"


def payload_mode(text: str, option: str = "--payloads") -> PayloadMode:
    for mode in PAYLOAD_MODES:
        if text == mode:
            return mode
    raise UsageError(f"{option} must be one of {', '.join(PAYLOAD_MODES)}, not {text!r}")


def _size(attribute: MessageAttribute | None) -> tuple[int] | None:
    if attribute is None or attribute.base_type != "Number" or not isinstance(attribute.value, str):
        return None
    return _whole(attribute.value)


def _notification_size(attribute: Any) -> tuple[int] | None:
    if not isinstance(attribute, dict) or attribute.get("Type") != "Number":
        return None
    value = attribute.get("Value")
    return _whole(value) if isinstance(value, str) else None


def _whole(text: str) -> tuple[int] | None:
    return (int(text),) if text.isascii() and text.isdigit() and len(text) <= 19 else None


def _parse_pointer(text: Any) -> tuple[str, str] | None:
    if not isinstance(text, str) or _MARK not in text:
        return None
    try:
        raw = json.loads(text)
    except ValueError:
        return None
    if not (isinstance(raw, list) and len(raw) == 2 and raw[0] in (POINTER_CLASS, LEGACY_POINTER_CLASS)):
        return None
    where = raw[1]
    if not isinstance(where, dict):
        return None
    bucket, key = where.get("s3BucketName"), where.get("s3Key")
    if not isinstance(bucket, str) or not isinstance(key, str) or not bucket or not key:
        return None
    return bucket, key


def _notification(text: str) -> dict[str, Any] | None:
    if '"Notification"' not in text:
        return None
    try:
        raw = json.loads(text)
    except ValueError:
        return None
    if isinstance(raw, dict) and raw.get("Type") == "Notification" and isinstance(raw.get("Message"), str):
        return raw
    return None


class _Sendable(Outbound, Protocol):
    """A message a target sends (a replayed one): its envelope can be swapped for the pointer's."""

    def _replace(self: S, **fields: Any) -> S: ...


S = TypeVar("S", bound=_Sendable)


class SizedTarget(Protocol):
    channel: str
    fifo: bool
    dedups: bool
    ordered: bool
    batch_size: int
    max_bytes: int

    def size_of(self, envelope: Envelope) -> int:
        """What the target counts against ``max_bytes``: the body and every attribute."""

    def takes_pointer(self, envelope: Envelope) -> bool:
        """Whether the envelope's body is what the target sends (an SNS notification's Message is not)."""

    def check(self, message: Any) -> None: ...

    def send(self, messages: list[Any]) -> Delivery[Any]: ...


class OffloadingTarget:
    """A queue or topic whose too-large bodies (or every body, ``always``) go to S3 first, as the extended
    clients put them, and are sent as pointers. An object is written just before its message is sent, and
    deleted again when the target refused that message (a message that may have arrived keeps it)."""

    def __init__(self, target: SizedTarget, store: PayloadStore, bucket: str, always: bool = False) -> None:
        self.target, self.store, self.bucket, self.always = target, store, bucket, always
        self.channel, self.fifo, self.dedups = target.channel, target.fifo, target.dedups
        self.ordered, self.batch_size = target.ordered, target.batch_size
        self.stored = 0  # objects written for messages the target confirmed
        self._lock = threading.Lock()

    def needs_s3(self, envelope: Envelope) -> bool:
        if pointer_of(envelope) is not None or not self.target.takes_pointer(envelope):
            return False
        return self.always or self.target.size_of(envelope) > self.target.max_bytes

    def check(self, message: Any) -> None:
        envelope = message.envelope
        if not self.needs_s3(envelope):
            self.target.check(message)
            return
        refuse_reserved(envelope.message_attributes)
        self.target.check(message._replace(envelope=as_pointer(envelope, self.bucket, "0" * 36)))

    def send(self, messages: list[S]) -> Delivery[S]:
        hold_back = HoldBack(ungrouped=self.ordered, keep_order=self.ordered)
        refused: list[tuple[S, str]] = []
        going: list[S] = []
        stored: dict[int, Pointer] = {}  # position in going -> the object its body went to
        keys = {n: new_key() for n, m in enumerate(messages) if self.needs_s3(m.envelope)}
        outcomes = dict(parallel_map(lambda n: (n, self._put(messages[n], keys[n])), list(keys)))
        for n, message in enumerate(messages):
            if hold_back.holds(message):
                refused.append((message, hold_back.reason))
                if outcomes.get(n) is True:  # stored, and not sent: nothing will point to it
                    self._forget(Pointer(self.bucket, keys[n], len(message.envelope.body)))
                continue
            outcome = outcomes.get(n)
            if isinstance(outcome, str):
                refused.append((message, outcome))
                hold_back.fail(message)
                continue
            if outcome is not None:
                stored[len(going)] = Pointer(self.bucket, keys[n], len(message.envelope.body))
                message = message._replace(envelope=as_pointer(message.envelope, self.bucket, keys[n]))
            going.append(message)
        delivery = self.target.send(going) if going else Delivery()
        self._clean_up(delivery, going, stored)
        delivery.failed = refused + delivery.failed
        return delivery

    def _forget(self, pointer: Pointer) -> None:
        with suppress(PayloadError):  # an object nothing points to: waste, never a loss
            self.store.delete(pointer)

    def _put(self, message: _Sendable, key: str) -> str | bool:
        try:
            self.store.put(self.bucket, key, message.envelope.body)
        except PayloadError as exc:
            return str(exc)
        return True

    def _clean_up(self, delivery: Delivery[S], going: list[S], stored: dict[int, Pointer]) -> None:
        positions = {id(message): n for n, message in enumerate(going)}
        unsure = {id(message) for message in delivery.unsure}
        for message, _ in delivery.failed:
            pointer = stored.pop(positions[id(message)], None)
            if pointer is not None and id(message) not in unsure:
                self._forget(pointer)
        with self._lock:
            self.stored += len(stored)


def refuse_reserved(attributes: dict[str, MessageAttribute]) -> None:
    """A body to be put in S3 must not carry the size attribute already: the pointer gets its own."""
    for name in SIZE_ATTRIBUTES:
        if name in attributes:
            raise UsageError(f"attribute {name!r} is the extended clients' own: a body put in S3 gets it")


def as_pointer(envelope: Envelope, bucket: str, key: str) -> Envelope:
    """The envelope sent in place of one whose body went to ``s3://bucket/key``."""
    attributes = {**envelope.message_attributes, SIZE_ATTRIBUTE: size_attribute(envelope.body)}
    pointer = Pointer(bucket, key, len(envelope.body))
    return replace(
        envelope,
        body=pointer_body(bucket, key),
        message_attributes=attributes,
        attributes={**envelope.attributes, PAYLOAD: pointer.to_json()},
    )
