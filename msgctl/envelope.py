"""The message envelope: the one JSON shape msgctl prints and reads.

``{"channel", "id", "body", "body_encoding", "attributes", "message_attributes"}``. Bodies that are
valid UTF-8 travel as text, anything else as base64, so an envelope read back recreates the exact bytes.
``attributes`` holds what the broker says about the message; of it, ``aws_trace_header`` (SQS's
AWSTraceHeader system attribute) and ``subject`` (an SNS notification's Subject) are sent again by redrive
and replay. A ``String.Array`` attribute's value is a JSON list, or the text SQS holds for it.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal, NamedTuple

from msgctl.errors import UsageError

BodyEncoding = Literal["text", "base64"]
TEXT_TYPES = ("String", "Number")  # the types whose value is text
TRACE_HEADER = "aws_trace_header"  # the envelope attribute for SQS's AWSTraceHeader (X-Ray)
SUBJECT = "subject"  # the envelope attribute for an SNS notification's Subject


class MessageAttribute(NamedTuple):
    """A typed message attribute. Binary values are held as bytes and printed as base64. (A named tuple: a
    large input makes millions of them, and a tuple is made in half the time of a frozen dataclass.)"""

    type: str
    value: str | bytes | list[Any]

    @property
    def base_type(self) -> str:
        return self.type.split(".", 1)[0] if not self.type.startswith("String.Array") else "String.Array"

    def to_json(self) -> dict[str, Any]:
        value: Any = self.value
        if isinstance(value, bytes):
            value = base64.b64encode(value).decode("ascii")
        return {"type": self.type, "value": value}

    @classmethod
    def from_json(cls, name: str, raw: Any) -> MessageAttribute:
        if not isinstance(raw, dict) or "type" not in raw or "value" not in raw:
            raise UsageError(f"message attribute {name!r} must be an object with 'type' and 'value'")
        type_, value = raw["type"], raw["value"]
        if type(value) is str and type_ in TEXT_TYPES:
            return tuple.__new__(cls, (type_, value))  # most attributes: quickly past the checks below
        if not isinstance(type_, str) or not type_:
            raise UsageError(f"message attribute {name!r} has no type")
        if type_.startswith("Binary"):
            if not isinstance(value, str):
                raise UsageError(f"binary attribute {name!r} must be base64 text")
            return cls(type_, b64decode(value, f"binary attribute {name!r}"))
        if type_.startswith("String.Array") and isinstance(value, list):
            return cls(type_, value)  # as SNS sees it; SQS holds the text (a String of custom type Array)
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise UsageError(f"attribute {name!r} must have a string or number value")
        return cls(type_, str(value))


@dataclass(frozen=True)
class Envelope:
    channel: str
    id: str | None
    body: bytes
    attributes: dict[str, Any] = field(default_factory=dict)
    message_attributes: dict[str, MessageAttribute] = field(default_factory=dict)

    @cached_property
    def text(self) -> str | None:
        """The body as UTF-8 text, or None when it is not."""
        try:
            return self.body.decode("utf-8")
        except UnicodeDecodeError:
            return None

    def to_json(self) -> dict[str, Any]:
        text = self.text
        return {
            "channel": self.channel,
            "id": self.id,
            "body": text if text is not None else base64.b64encode(self.body).decode("ascii"),
            "body_encoding": "text" if text is not None else "base64",
            "attributes": dict(self.attributes),
            "message_attributes": {k: v.to_json() for k, v in self.message_attributes.items()},
        }

    @classmethod
    def from_json(cls, raw: Any) -> Envelope:
        if not isinstance(raw, dict):
            raise UsageError("an envelope must be a JSON object")
        body = raw.get("body")
        if not isinstance(body, str):
            raise UsageError("envelope 'body' must be a string")
        encoding = raw.get("body_encoding", "text")
        if encoding == "text":
            body_bytes = body.encode("utf-8")
        elif encoding == "base64":
            body_bytes = b64decode(body, "envelope body")
        else:
            raise UsageError(f"envelope 'body_encoding' must be 'text' or 'base64', not {encoding!r}")
        channel, message_id = raw.get("channel", ""), raw.get("id")
        if not isinstance(channel, str) or not (message_id is None or isinstance(message_id, str)):
            raise UsageError("envelope 'channel' and 'id' must be strings")
        attributes = raw.get("attributes")
        attributes = {} if attributes is None else attributes
        message_attributes = raw.get("message_attributes")
        message_attributes = {} if message_attributes is None else message_attributes
        if not isinstance(attributes, dict) or not isinstance(message_attributes, dict):
            raise UsageError("envelope 'attributes' and 'message_attributes' must be objects")
        typed = {}
        for name, value in message_attributes.items():
            # (MessageAttribute.from_json's first test, inline: a large input has millions of attributes)
            if (
                type(value) is dict
                and type(text := value.get("value")) is str
                and value.get("type") in TEXT_TYPES
            ):
                typed[name] = _new_tuple(MessageAttribute, (value["type"], text))
            else:
                typed[name] = MessageAttribute.from_json(name, value)
        # As __init__ would, in a third of its time (a large input reads millions): the fields are checked.
        envelope = object.__new__(cls)
        envelope.__dict__.update(
            channel=channel, id=message_id, body=body_bytes, attributes=attributes, message_attributes=typed
        )
        if encoding == "text":
            envelope.__dict__["text"] = body  # (what ``text`` would decode again)
        return envelope

    def dumps(self) -> str:
        return json.dumps(self.to_json(), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def loads(cls, line: str) -> Envelope:
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UsageError(f"not JSON: {exc.msg} at column {exc.colno}") from None
        return cls.from_json(raw)


_new_tuple = tuple.__new__


def b64decode(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise UsageError(f"{what} is not valid base64") from None


def is_notification(text: str | None) -> bool:
    """The body is an SNS notification left by a non-raw subscription (the message is inside it)."""
    if text is None or '"Notification"' not in text:
        return False
    try:
        raw = json.loads(text)
    except ValueError:
        return False
    return isinstance(raw, dict) and raw.get("Type") == "Notification" and "Message" in raw
