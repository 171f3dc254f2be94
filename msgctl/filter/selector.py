"""Translate an attribute-scope SNS filter policy into a JMS SQL92 selector for ActiveMQ consumers.

What has no equivalent (equals-ignore-case, cidr, null and boolean literals, body scope) is refused with
the operator and its JSON path rather than approximated.
"""

from __future__ import annotations

import json
import re
from typing import Any

from msgctl.errors import UsageError
from msgctl.filter.engine import is_or_operator

IDENTIFIER = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
RESERVED = frozenset({"NULL", "TRUE", "FALSE", "NOT", "AND", "OR", "BETWEEN", "LIKE", "IN", "IS", "ESCAPE"})
LIKE_ESCAPE = "!"
NOTES = (
    "ActiveMQ compares STOMP properties (sent as text) with numbers only when they hold integers",
    "a JMS property holds one value: String.Array semantics (any element) do not carry over",
)


class NoSelectorEquivalent(UsageError):
    pass


def to_selector(policy: dict[str, Any]) -> str:
    if not policy:
        raise NoSelectorEquivalent("an empty policy matches everything: use no selector")
    return _and(policy, "$")


def _and(policy: dict[str, Any], path: str) -> str:
    parts = []
    for key, value in policy.items():
        key_path = f"{path}.{key}"
        if key == "$or" and is_or_operator(value):
            parts.append(
                "("
                + " OR ".join(f"({_and(branch, f'{key_path}[{n}]')})" for n, branch in enumerate(value))
                + ")"
            )
        elif isinstance(value, dict):
            raise NoSelectorEquivalent(
                f"{key_path}: nested (body scope) policies have no selector equivalent"
            )
        else:
            parts.append(_key(key, value, key_path))
    return " AND ".join(parts)


def _key(key: str, conditions: list[Any], path: str) -> str:
    if not IDENTIFIER.fullmatch(key) or key.upper() in RESERVED:
        raise NoSelectorEquivalent(f"{path}: {key!r} is not a JMS property identifier")
    strings = [c for c in conditions if isinstance(c, str)]
    parts = []
    if len(strings) == 1:
        parts.append(f"{key} = {_quote(strings[0])}")
    elif strings:
        parts.append(f"{key} IN ({', '.join(_quote(s) for s in strings)})")
    for index, condition in enumerate(conditions):
        where = f"{path}[{index}]"
        if isinstance(condition, str):
            continue
        if condition is None or isinstance(condition, bool):
            raise NoSelectorEquivalent(
                f"{where}: {json.dumps(condition)} literals have no selector equivalent"
            )
        if isinstance(condition, int | float):
            parts.append(f"{key} = {_number(condition)}")
        else:
            parts.append(_operator(key, condition, where))
    return parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"


def _operator(key: str, condition: dict[str, Any], path: str) -> str:
    ((name, operand),) = condition.items()
    where = f"{path}.{name}"
    if name == "prefix":
        return f"{key} LIKE {_like(operand, '', '%')}"
    if name == "suffix":
        return f"{key} LIKE {_like(operand, '%', '')}"
    if name == "wildcard":
        return f"{key} LIKE {_wildcard(operand)}"
    if name == "exists":
        return f"{key} IS NOT NULL" if operand else f"{key} IS NULL"
    if name == "numeric":
        return _numeric(key, operand)
    if name == "anything-but":
        return _anything_but(key, operand, where)
    raise NoSelectorEquivalent(f"{where}: {name} has no JMS selector equivalent")


def _numeric(key: str, operand: list[Any]) -> str:
    pairs = [(operand[i], operand[i + 1]) for i in range(0, len(operand), 2)]
    if len(pairs) == 2 and pairs[0][0] == ">=" and pairs[1][0] == "<=":
        return f"{key} BETWEEN {_number(pairs[0][1])} AND {_number(pairs[1][1])}"
    comparisons = [f"{key} {'=' if op == '=' else op} {_number(value)}" for op, value in pairs]
    return comparisons[0] if len(comparisons) == 1 else "(" + " AND ".join(comparisons) + ")"


def _anything_but(key: str, operand: Any, path: str) -> str:
    if isinstance(operand, dict):
        ((name, value),) = operand.items()
        pattern = {
            "prefix": lambda: _like(value, "", "%"),
            "suffix": lambda: _like(value, "%", ""),
            "wildcard": lambda: _wildcard(value),
        }[name]()
        return f"{key} NOT LIKE {pattern}"
    values = operand if isinstance(operand, list) else [operand]
    strings = [v for v in values if isinstance(v, str)]
    numbers = [v for v in values if not isinstance(v, str)]
    if strings and numbers:
        raise NoSelectorEquivalent(f"{path}: a mixed string and number list has no selector equivalent")
    if strings:
        return f"{key} NOT IN ({', '.join(_quote(s) for s in strings)})"
    return "(" + " AND ".join(f"{key} <> {_number(n)}" for n in numbers) + ")"


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _like(text: str, before: str, after: str) -> str:
    escaped = "".join(LIKE_ESCAPE + ch if ch in "%_" + LIKE_ESCAPE else ch for ch in text)
    return f"{_quote(before + escaped + after)} ESCAPE '{LIKE_ESCAPE}'"


def _wildcard(pattern: str) -> str:
    escaped = "".join(
        LIKE_ESCAPE + ch if ch in "%_" + LIKE_ESCAPE else ("%" if ch == "*" else ch) for ch in pattern
    )
    return f"{_quote(escaped)} ESCAPE '{LIKE_ESCAPE}'"


def _number(value: Any) -> str:
    return repr(value) if isinstance(value, float) else str(value)
