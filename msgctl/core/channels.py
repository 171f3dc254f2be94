"""Sending to a channel, whatever broker holds it: what the target would refuse is refused first."""

from __future__ import annotations

import json
from collections.abc import Iterable

from msgctl.address import Channel
from msgctl.core.ports import Backend, OutgoingMessage, SendReceipt
from msgctl.envelope import MessageAttribute, b64decode
from msgctl.errors import UsageError

SIMPLE_TYPES = ("String", "Number", "Binary", "String.Array")


def send_message(backend: Backend, channel: Channel, message: OutgoingMessage) -> SendReceipt:
    check_sendable(backend, channel, message)
    return backend.send(channel, message)


def check_sendable(backend: Backend, channel: Channel, message: OutgoingMessage) -> None:
    """Refuse, before anything is sent, what the target would refuse or silently drop."""
    caps = backend.capabilities
    if caps.fifo and channel.fifo and not message.group_id:
        raise UsageError(f"{channel} is FIFO: pass --group-id")
    if caps.fifo and not channel.fifo and message.dedup_id:
        raise UsageError(f"{channel} is not FIFO: --dedup-id applies to FIFO channels only")
    if not caps.fifo and not caps.message_groups and (message.group_id or message.dedup_id):
        raise UsageError(f"{channel} has no message groups or deduplication ids")
    for name, attr in message.message_attributes.items():
        if isinstance(attr.value, bytes) and not caps.binary_attributes:
            raise UsageError(f"attribute {name!r}: {channel} does not take Binary attributes")
        if isinstance(attr.value, list) and not caps.array_attributes:
            raise UsageError(f"attribute {name!r}: {channel} does not take String.Array attributes")


def parse_attribute(spec: str) -> tuple[str, MessageAttribute]:
    """``NAME=VALUE`` (a String) or ``NAME:TYPE=VALUE``; Binary values are base64, String.Array JSON."""
    key, sep, value = spec.partition("=")
    if not sep or not key:
        raise UsageError(f"bad attribute {spec!r}: expected NAME=VALUE or NAME:TYPE=VALUE")
    name, _, type_ = key.partition(":")
    type_ = type_ or "String"
    if not name:
        raise UsageError(f"bad attribute {spec!r}: missing name")
    base = "String.Array" if type_.startswith("String.Array") else type_.split(".", 1)[0]
    if base not in SIMPLE_TYPES:
        raise UsageError(f"bad attribute {spec!r}: type must be String, Number, Binary or String.Array")
    if base == "Number":
        try:
            float(value)
        except ValueError:
            raise UsageError(f"bad attribute {spec!r}: {value!r} is not a number") from None
        return name, MessageAttribute(type_, value)
    if base == "Binary":
        return name, MessageAttribute(type_, b64decode(value, f"attribute {name!r}"))
    if base == "String.Array":
        try:
            items = json.loads(value)
        except ValueError:
            items = None
        if not isinstance(items, list):
            raise UsageError(f"bad attribute {spec!r}: String.Array values are JSON lists")
        return name, MessageAttribute(type_, items)
    return name, MessageAttribute(type_, value)


def parse_attributes(specs: Iterable[str]) -> dict[str, MessageAttribute]:
    attributes: dict[str, MessageAttribute] = {}
    for spec in specs:
        name, attr = parse_attribute(spec)
        if name in attributes:
            raise UsageError(f"attribute {name!r} given twice")
        attributes[name] = attr
    return attributes
