"""SNS subscription filter policies, evaluated offline the way the Amazon SNS documentation describes them.

A policy is compiled once into closures (``FilterPolicy``) that decide any number of messages without
walking the policy JSON again; a second, explaining walk runs only to say why a message did not match.
Semantics, with the documentation's silences resolved:

- Keys are ANDed, the conditions of a key are ORed, ``$or`` holds alternative sub-policies (recognised
  only as the docs say: a list of at least two objects that use no operator name as a key).
- A key absent from the message fails every condition except ``{"exists": false}``; in attributes scope
  ``exists: false`` needs at least one attribute on the message (the docs' note on empty attribute sets).
- Lists in the message (String.Array attributes, JSON arrays in the body, at any depth) match when any
  element matches, for every operator, ``anything-but`` included (the docs' examples).
- Strings match string conditions, numbers numeric ones: a Number attribute never equals ``"100"``, a
  String attribute never satisfies ``numeric``. Numbers compare rounded to 5 decimal places.
- In the body, ``null`` matches the literal ``null`` and counts as absent for ``exists``; objects are not
  leaves and match nothing. Binary attributes exist but match no value.
"""

from __future__ import annotations

import ipaddress
import json
import operator
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

Scope = Literal["attributes", "body"]
OPERATORS = frozenset(
    {"anything-but", "numeric", "prefix", "suffix", "equals-ignore-case", "exists", "cidr", "wildcard"}
)
DECIMALS = 5
AttributeValue = str | bytes | list[Any]
Test = Callable[[Any], bool]


@dataclass(frozen=True)
class Message:
    """What a filter policy looks at: the body, and message attributes as (type, value) pairs.

    Values are as SNS carries them (text; a String.Array as its JSON text or an already parsed list;
    Binary as bytes).
    """

    body: str = ""
    attributes: dict[str, tuple[str, AttributeValue]] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    match: bool
    reason: str | None = None  # for no match: which key failed and why

    def to_json(self) -> dict[str, Any]:
        return {"match": self.match, "reason": self.reason}


@dataclass(frozen=True)
class Problem:
    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


class FilterPolicy:
    """A compiled policy (call ``lint.lint`` first: compilation assumes a valid policy)."""

    def __init__(self, policy: dict[str, Any], scope: Scope = "attributes") -> None:
        self.policy = policy
        self.scope = scope
        self._tree = _build(policy, (), scope)
        self._test = self._tree.test
        # Envelopes read by `filter test --input` keep their {"type", "value"} attribute objects.
        self._envelope_test = _build(policy, (), "envelope").test if scope == "attributes" else self._test

    def matches(self, message: Message) -> bool:
        if self.scope == "body":
            document = _document(message.body)
            return document is not None and self._test(_BodyView(document))
        return self._test(message.attributes)

    def matches_envelope(self, envelope: dict[str, Any]) -> bool:
        """Decide a parsed NDJSON envelope directly, reading only what the policy looks at (and the body's
        type, so a line that is no envelope at all is reported whatever the scope)."""
        body = envelope.get("body")
        if type(body) is not str:
            raise EnvelopeError("envelope 'body' must be a string")
        encoding = envelope.get("body_encoding", "text")
        if encoding not in ("text", "base64"):
            raise EnvelopeError(f"envelope 'body_encoding' must be 'text' or 'base64', not {encoding!r}")
        if self.scope == "body":
            text = body if encoding == "text" else _base64_text(body)
            document = _document(text) if text is not None else None
            return document is not None and self._test(_BodyView(document))
        attributes = envelope.get("message_attributes")
        if attributes is None:
            attributes = {}
        elif type(attributes) is not dict:
            raise EnvelopeError("envelope 'message_attributes' must be an object")
        return self._envelope_test(attributes)

    def decide(self, message: Message) -> Decision:
        if self.scope == "body":
            document = _document(message.body)
            if document is None:
                return Decision(False, "the body is not a JSON object")
            view: Any = _BodyView(document)
        else:
            view = message.attributes
        if self._test(view):
            return Decision(True)
        return Decision(False, self._tree.why(view) or "no match")


# Values ---------------------------------------------------------------------------------------------------


class _Binary:
    """A Binary attribute: present for ``exists``, ignored by every value condition."""


BINARY = _Binary()


def number(value: Any) -> float | None:
    """A Number attribute as msgctl compares it: a float rounded to 5 decimals (None if it is no number:
    Python's float() also takes "1_000", " 5", "inf" and "nan", which SNS does not)."""
    if type(value) is not str:
        return None
    try:
        parsed = float(value)
    except ValueError:
        return None
    if parsed - parsed != 0 or "_" in value or value != value.strip():  # inf, nan; 1_000; padding
        return None
    return round(parsed, DECIMALS)


def _normalize(value: Any) -> Any:
    kind = type(value)
    if kind is int or kind is float:
        try:
            return round(float(value), DECIMALS)
        except OverflowError:  # an integer too large for any comparison: not a number to the engine
            return str(value)
    return value


def attribute_values(type_: str, value: AttributeValue) -> list[Any]:
    """What conditions see of one message attribute (lists for String.Array)."""
    if type_ == "String":
        return [value]
    if type_.startswith("Number"):
        parsed = number(value)
        return [parsed] if parsed is not None else []
    if type_.startswith("String.Array"):
        items = value if isinstance(value, list) else _json_list(value)  # text as SNS carries it
        return [_normalize(item) for item in items] if items is not None else [value]
    if type_.startswith("Binary") or isinstance(value, bytes):
        return [BINARY]
    return [value]


def _json_list(value: str | bytes) -> list[Any] | None:
    try:
        items = json.loads(value)
    except (TypeError, ValueError):
        return None
    return items if isinstance(items, list) else None


def _base64_text(body: str) -> str | None:
    import base64
    import binascii

    try:
        return base64.b64decode(body, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise EnvelopeError("envelope body is not valid base64") from None


def _document(body: str) -> dict[str, Any] | None:
    try:
        document = json.loads(body)
    except (TypeError, ValueError, RecursionError):
        return None
    return document if isinstance(document, dict) else None


class EnvelopeError(ValueError):
    """An envelope whose shape the engine cannot read."""


class _BodyView:
    """The body seen as leaf values per path, lists traversed transparently at every level."""

    __slots__ = ("document",)

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document

    def values(self, path: tuple[str, ...]) -> list[Any] | None:
        found: list[Any] = []
        _collect(self.document, path, found)
        return found or None


def _collect(node: Any, path: tuple[str, ...], found: list[Any]) -> None:
    if isinstance(node, list):
        for item in node:
            _collect(item, path, found)
    elif not path:
        if not isinstance(node, dict):
            found.append(_normalize(node))
    elif isinstance(node, dict) and path[0] in node:
        _collect(node[path[0]], path[1:], found)


def _present(value: Any) -> bool:
    return value is not None and value != "" and value != []


# Compilation ----------------------------------------------------------------------------------------------


Mode = Literal["attributes", "envelope", "body"]  # envelope: attributes as {"type", "value"} objects


@dataclass(frozen=True)
class _Node:
    test: Callable[[Any], bool]  # the fast path: attributes dict or _BodyView -> match
    why: Callable[[Any], str | None]  # the explaining path: None when it matches


def _build(policy: dict[str, Any], prefix: tuple[str, ...], scope: Mode) -> _Node:
    nodes: list[tuple[int, _Node]] = []
    for key, condition in policy.items():
        if key == "$or" and is_or_operator(condition):
            nodes.append((2, _build_or([_build(branch, prefix, scope) for branch in condition], prefix)))
        elif isinstance(condition, dict):
            nodes.append((1, _build(condition, (*prefix, key), scope)))
        else:
            conditions = condition if isinstance(condition, list) else [condition]
            cheap = all(type(c) is str for c in conditions)
            nodes.append((0 if cheap else 1, _build_leaf((*prefix, key), conditions, scope)))
    # Exact-string keys first: they are the cheapest to check, and any failing key decides a no-match.
    ordered = [node for _, node in sorted(nodes, key=lambda pair: pair[0])]
    tests = tuple(node.test for node in ordered)

    def test(view: Any) -> bool:
        for leaf_test in tests:
            if not leaf_test(view):
                return False
        return True

    def why(view: Any) -> str | None:
        for node in ordered:
            if not node.test(view):
                return node.why(view)
        return None

    return _Node(test, why)


def _build_or(branches: list[_Node], prefix: tuple[str, ...]) -> _Node:
    tests = tuple(branch.test for branch in branches)
    where = f" at {path_text(prefix)}" if prefix else ""

    def test(view: Any) -> bool:
        for branch_test in tests:
            if branch_test(view):
                return True
        return False

    def why(view: Any) -> str | None:
        if test(view):
            return None
        return f"no $or alternative{where} matched ({'; '.join(b.why(view) or '' for b in branches)})"

    return _Node(test, why)


def _build_leaf(path: tuple[str, ...], conditions: list[Any], scope: Mode) -> _Node:
    exists = {c["exists"] for c in conditions if isinstance(c, dict) and "exists" in c}
    matches_value = value_test([c for c in conditions if not (isinstance(c, dict) and "exists" in c)])
    want_present, want_absent = True in exists, False in exists
    key = path[0]
    shown, where = json.dumps(conditions), path_text(path)

    def values_of(view: Any) -> list[Any] | None:
        if scope == "body":
            found: list[Any] | None = view.values(path)
            return found
        item = view.get(key)
        if item is None:
            return None
        return (
            attribute_values(*_typed(key, item))
            if scope == "envelope"
            else attribute_values(item[0], item[1])
        )

    def test_attributes(attributes: dict[str, tuple[str, AttributeValue]]) -> bool:
        item = attributes.get(key)
        if item is None:
            return want_absent and bool(attributes)
        if want_present:
            return True
        type_, value = item
        if type_ == "String":
            return matches_value(value)
        for candidate in attribute_values(type_, value):
            if candidate is not BINARY and matches_value(candidate):
                return True
        return False

    def test_body(view: _BodyView) -> bool:
        found = view.values(path)
        present = found is not None and any(_present(v) for v in found)
        if (want_present and present) or (want_absent and not present):
            return True
        if found is None:
            return False
        for candidate in found:
            if matches_value(candidate):
                return True
        return False

    def test_envelope(attributes: dict[str, Any]) -> bool:
        item = attributes.get(key)
        if item is None:
            return want_absent and bool(attributes)
        try:  # the common case inline: this runs once per key per envelope
            type_ = item["type"]
            value = item["value"]
        except (TypeError, KeyError):
            type_, value = _typed(key, item)
        if type(value) is not str or type(type_) is not str:
            type_, value = _typed(key, item)
        if want_present:
            return True
        if type_ == "String":
            return matches_value(value)
        if type_ == "Number":
            parsed = number(value)
            return parsed is not None and matches_value(parsed)
        for candidate in attribute_values(type_, value):
            if candidate is not BINARY and matches_value(candidate):
                return True
        return False

    test: Callable[[Any], bool] = test_attributes
    if scope == "body":
        test = test_body
    elif scope == "envelope":
        test = test_envelope

    def why(view: Any) -> str | None:
        if test(view):
            return None
        return f"{where}: {describe(values_of(view))} matches none of {shown}"

    return _Node(test, why)


def _typed(key: str, attribute: Any) -> tuple[str, AttributeValue]:
    """An envelope attribute read the way the envelope reader reads it (numbers become their text)."""
    try:
        type_, value = attribute["type"], attribute["value"]
    except (TypeError, KeyError):
        raise EnvelopeError(f"message attribute {key!r} must be an object with 'type' and 'value'") from None
    if type(type_) is not str or not type_:
        raise EnvelopeError(f"message attribute {key!r} has no type")
    if type_.startswith("String.Array") and type(value) is list:
        return type_, value  # else the text SQS holds for it, read as a string
    if type_.startswith("Binary"):
        if type(value) is not str:
            raise EnvelopeError(f"binary attribute {key!r} must be base64 text")
        return type_, value.encode()
    if type(value) in (int, float):
        return type_, str(value)
    if type(value) is not str:
        raise EnvelopeError(f"attribute {key!r} must have a string or number value")
    return type_, value


def value_test(conditions: list[Any]) -> Test:
    """One test for a single message value against a list of (non-exists) conditions, ORed."""
    strings = frozenset(c for c in conditions if type(c) is str)
    numbers = frozenset(round(float(c), DECIMALS) for c in conditions if type(c) in (int, float))
    literals = tuple(c for c in conditions if c is None or type(c) is bool)
    operators = tuple(operator_test(c) for c in conditions if isinstance(c, dict))
    if not numbers and not literals and not operators:
        return lambda value: type(value) is str and value in strings

    def test(value: Any) -> bool:
        kind = type(value)
        if kind is str:
            if value in strings:
                return True
        elif kind is float:
            if value in numbers:
                return True
        elif value is None or kind is bool:
            for literal in literals:
                if value is literal:
                    return True
        for operator_matches in operators:
            if operator_matches(value):
                return True
        return False

    return test


def operator_test(condition: dict[str, Any]) -> Test:
    ((name, operand),) = condition.items()
    if name == "prefix":
        return lambda v: type(v) is str and v.startswith(operand)
    if name == "suffix":
        return lambda v: type(v) is str and v.endswith(operand)
    if name == "equals-ignore-case":
        folded = operand.casefold()
        return lambda v: type(v) is str and v.casefold() == folded
    if name == "wildcard":
        pattern = re.compile(".*".join(re.escape(part) for part in operand.split("*")), re.DOTALL)
        return lambda v: type(v) is str and pattern.fullmatch(v) is not None
    if name == "cidr":
        network = ipaddress.ip_network(operand, strict=False)
        return lambda v: type(v) is str and _in_network(v, network)
    if name == "numeric":
        return _numeric_test(operand)
    if name == "anything-but":
        return _anything_but_test(operand)
    raise ValueError(f"unknown operator {name}")  # lint rejects it before compilation


_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "=": operator.eq,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _numeric_test(operand: list[Any]) -> Test:
    checks = tuple(
        (_COMPARE[operand[i]], round(float(operand[i + 1]), DECIMALS)) for i in range(0, len(operand), 2)
    )
    if len(checks) == 1:
        ((compare, bound),) = checks
        return lambda v: type(v) is float and compare(v, bound)
    (low, low_bound), (high, high_bound) = checks
    return lambda v: type(v) is float and low(v, low_bound) and high(v, high_bound)


def _anything_but_test(operand: Any) -> Test:
    if isinstance(operand, dict):
        inner = operator_test(operand)
        return lambda v: type(v) is str and not inner(v)
    excluded = operand if isinstance(operand, list) else [operand]
    strings = frozenset(e for e in excluded if type(e) is str)
    numbers = frozenset(round(float(e), DECIMALS) for e in excluded if type(e) in (int, float))
    if not numbers:
        return lambda v: type(v) is str and v not in strings
    if not strings:
        return lambda v: type(v) is float and v not in numbers
    return lambda v: (type(v) is str and v not in strings) or (type(v) is float and v not in numbers)


def _in_network(value: str, network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    try:
        return ipaddress.ip_address(value) in network
    except ValueError:
        return False


def describe(values: list[Any] | None) -> str:
    if values is None:
        return "missing"
    shown = ["<binary>" if v is BINARY else v for v in values]
    return json.dumps(shown[0] if len(shown) == 1 else shown, default=str)


def path_text(path: Iterable[str]) -> str:
    return "$" + "".join(
        f".{key}" if re.fullmatch(r"[A-Za-z_$][\w$-]*", key) else f"[{json.dumps(key)}]" for key in path
    )


def is_or_operator(value: Any) -> bool:
    """``$or`` is an operator only with at least two objects that use no operator name as a key;
    otherwise it is an ordinary key (the SNS documentation's rule)."""
    return isinstance(value, list) and len(value) >= 2 and all(is_branch(b) for b in value)


def is_branch(value: Any) -> bool:
    return isinstance(value, dict) and bool(value) and not (set(value) & OPERATORS)
