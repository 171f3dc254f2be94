"""SNS subscription filter policies, evaluated offline the way Amazon SNS documents them.

A policy is a JSON object. Every key must match (AND); a key's list of conditions matches when any one does
(OR); ``$or`` holds alternative sub-policies. In ``attributes`` scope keys name message attributes; in
``body`` scope they name properties of the JSON body, nested like the body itself.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

Scope = Literal["attributes", "body"]
_MISSING = object()


@dataclass(frozen=True)
class Message:
    """What a filter policy looks at: the body and the message attributes as (type, value) text pairs."""

    body: str = ""
    attributes: dict[str, tuple[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    match: bool
    reason: str | None = None  # for no match: which key failed and why


class FilterPolicy:
    def __init__(self, policy: dict[str, Any], scope: Scope = "attributes") -> None:
        self.policy = policy
        self.scope = scope

    def matches(self, message: Message) -> bool:
        return self.decide(message).match

    def decide(self, message: Message) -> Decision:
        if self.scope == "body":
            try:
                document = json.loads(message.body)
            except ValueError:
                return Decision(False, "the body is not JSON")
            if not isinstance(document, dict):
                return Decision(False, "the body is not a JSON object")
            return _match_object(self.policy, lambda key, _path: document.get(key, _MISSING), "$", document)
        values = {
            name: _attribute_values(type_, value) for name, (type_, value) in message.attributes.items()
        }
        return _match_object(self.policy, lambda key, _path: values.get(key, _MISSING), "$", None)


def _match_object(policy: dict[str, Any], lookup: Any, path: str, document: Any) -> Decision:
    for key, condition in policy.items():
        if key == "$or":
            decisions = [_match_object(alternative, lookup, path, document) for alternative in condition]
            if not any(d.match for d in decisions):
                reasons = "; ".join(d.reason or "" for d in decisions)
                return Decision(False, f"no $or alternative at {path} matched ({reasons})")
            continue
        key_path = f"{path}.{key}"
        value = lookup(key, key_path)
        if isinstance(condition, dict):
            if not isinstance(value, dict):
                return Decision(False, f"{key_path}: not an object in the message")
            decision = _match_object(condition, lambda k, _p, v=value: v.get(k, _MISSING), key_path, value)
            if not decision.match:
                return decision
            continue
        if not _matches_conditions(condition, value):
            shown = "missing" if value is _MISSING else json.dumps(_shown(value))
            return Decision(False, f"{key_path}: {shown} matches none of {json.dumps(condition)}")
    return Decision(True)


def _shown(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, list):
        return [_shown(v) for v in value]
    return value


def _matches_conditions(conditions: list[Any], value: Any) -> bool:
    return any(_matches_condition(condition, value) for condition in conditions)


def _matches_condition(condition: Any, value: Any) -> bool:
    if isinstance(condition, dict) and "exists" in condition:
        return (value is not _MISSING) == bool(condition["exists"])
    if value is _MISSING:
        return False
    return any(_matches_value(condition, candidate) for candidate in _candidates(value))


def _candidates(value: Any) -> Iterator[Any]:
    """A list in the message (String.Array, a JSON array) matches when any of its elements does."""
    if isinstance(value, list):
        for item in value:
            yield _normalize(item)
    else:
        yield _normalize(value)


def _normalize(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, Decimal):
        return value
    if isinstance(value, int | float):
        return Decimal(str(value))
    return value


def _matches_value(condition: Any, value: Any) -> bool:
    if isinstance(condition, bool) or condition is None:
        return value is condition
    if isinstance(condition, str):
        return isinstance(value, str) and value == condition
    if isinstance(condition, int | float):
        return _is_number(value) and value == Decimal(str(condition))
    if not isinstance(condition, dict) or len(condition) != 1:
        return False
    ((operator, operand),) = condition.items()
    if operator == "prefix":
        return isinstance(value, str) and value.startswith(operand)
    if operator == "suffix":
        return isinstance(value, str) and value.endswith(operand)
    if operator == "equals-ignore-case":
        return isinstance(value, str) and value.casefold() == str(operand).casefold()
    if operator == "numeric":
        return _is_number(value) and _numeric(operand, value)
    if operator == "cidr":
        return isinstance(value, str) and _in_network(value, operand)
    if operator == "anything-but":
        return _anything_but(operand, value)
    return False


def _anything_but(operand: Any, value: Any) -> bool:
    if isinstance(operand, dict):
        return not _matches_value(operand, value) and isinstance(value, str)
    excluded = operand if isinstance(operand, list) else [operand]
    if all(isinstance(e, str) for e in excluded):
        return isinstance(value, str) and value not in excluded
    if all(isinstance(e, int | float) and not isinstance(e, bool) for e in excluded):
        return _is_number(value) and all(value != Decimal(str(e)) for e in excluded)
    return not any(_matches_value(e, value) for e in excluded)


def _numeric(operand: list[Any], value: Decimal) -> bool:
    for index in range(0, len(operand) - 1, 2):
        operator, bound = operand[index], Decimal(str(operand[index + 1]))
        if not _compare(operator, value, bound):
            return False
    return True


def _compare(operator: str, value: Decimal, bound: Decimal) -> bool:
    return {
        "=": value == bound,
        "<": value < bound,
        "<=": value <= bound,
        ">": value > bound,
        ">=": value >= bound,
    }.get(operator, False)


def _is_number(value: Any) -> bool:
    return isinstance(value, Decimal)


def _in_network(value: str, network: str) -> bool:
    try:
        return ipaddress.ip_address(value) in ipaddress.ip_network(network, strict=False)
    except ValueError:
        return False


def _attribute_values(type_: str, value: str) -> Any:
    """What conditions see of a message attribute: text for String, a number for Number, a list for arrays."""
    if type_.startswith("Number"):
        try:
            return Decimal(value)
        except InvalidOperation:
            return value
    if type_.startswith("String.Array"):
        try:
            items = json.loads(value)
        except ValueError:
            return value
        return items if isinstance(items, list) else value
    if type_.startswith("Binary"):
        return _BINARY
    return value


class _Binary:
    """Binary attributes exist (for exists:true) but match no value condition."""


_BINARY = _Binary()
