"""What the filter engine reads: message attributes given as JSON, and captured envelopes."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from msgctl.envelope import Envelope
from msgctl.errors import UsageError
from msgctl.filter.engine import AttributeValue, Message


def attributes_from_json(text: str) -> dict[str, tuple[str, AttributeValue]]:
    """``{"name": value}`` with plain values (str, number, list) or typed ones ({"Type", "Value"} or SNS's
    {"DataType", "StringValue"|"BinaryValue"})."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"--attributes is not JSON: {exc.msg} at column {exc.colno}") from None
    if not isinstance(raw, dict):
        raise UsageError("--attributes must be a JSON object")
    return attributes_from_mapping(raw)


def attributes_from_mapping(raw: Mapping[str, Any]) -> dict[str, tuple[str, AttributeValue]]:
    """The same values as ``attributes_from_json``, given as a Python mapping."""
    return {name: _attribute(name, value) for name, value in raw.items()}


def _attribute(name: str, value: Any) -> tuple[str, AttributeValue]:
    if isinstance(value, bool) or value is None:
        raise UsageError(f"attribute {name!r}: use a string, a number, a list or a typed object")
    if isinstance(value, str):
        return "String", value
    if isinstance(value, int | float):
        return "Number", json.dumps(value)
    if isinstance(value, list):
        return "String.Array", json.dumps(value)
    type_ = value.get("Type", value.get("DataType")) if isinstance(value, dict) else None
    if not isinstance(type_, str):
        raise UsageError(f"attribute {name!r}: a typed value needs Type (or DataType)")
    if "BinaryValue" in value:
        try:
            return type_, base64.b64decode(value["BinaryValue"], validate=True)
        except (binascii.Error, ValueError, TypeError):
            raise UsageError(f"attribute {name!r}: BinaryValue is not base64") from None
    content = value.get("Value", value.get("StringValue"))
    if isinstance(content, list) and type_.startswith("String.Array"):
        content = json.dumps(content)
    if isinstance(content, int | float) and not isinstance(content, bool):
        content = json.dumps(content)
    if not isinstance(content, str):
        raise UsageError(f"attribute {name!r}: a typed value needs Value (or StringValue)")
    return type_, content


def message_from_envelope(envelope: Envelope) -> Message:
    attributes: dict[str, tuple[str, AttributeValue]] = {}
    for name, attribute in envelope.message_attributes.items():
        value = attribute.value
        attributes[name] = (attribute.type, json.dumps(value) if isinstance(value, list) else value)
    text = envelope.text
    return Message(body=text if text is not None else "", attributes=attributes)
