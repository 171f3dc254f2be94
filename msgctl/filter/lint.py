"""SNS filter policies checked against AWS's documented constraints, every problem with its JSON path, and
parsed into the engine's compiled form only when valid."""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from msgctl.errors import UsageError
from msgctl.filter.engine import (
    OPERATORS,
    FilterPolicy,
    Problem,
    Scope,
    is_branch,
    is_or_operator,
    path_text,
)

MAX_KEYS = 5
MAX_COMBINATIONS = 150
MAX_BYTES = 256 * 1024
NUMBER_LIMIT = Decimal(10) ** 9


def decode_policy(text: str) -> tuple[dict[str, Any] | None, list[Problem]]:
    """Parse policy text; the problems say why it is not a policy at all (not JSON, too large)."""
    problems = []
    size = len(text.encode("utf-8"))
    if size > MAX_BYTES:
        problems.append(Problem("$", f"{size} bytes: a filter policy has at most 256 KB"))
    try:
        policy = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        return None, [Problem("$", f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")]
    except ValueError as exc:
        return None, [Problem("$", str(exc))]
    if not isinstance(policy, dict):
        return None, [Problem("$", "a filter policy is a JSON object")]
    return policy, problems


class InvalidPolicy(UsageError):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(
            f"invalid filter policy: {problems[0]}"
            + (f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else "")
        )
        self.problems = problems


PolicySource = str | Mapping[str, Any]  # JSON text, or the policy itself


def parse_policy(policy: PolicySource, scope: Scope = "attributes") -> FilterPolicy:
    """Decode (JSON text or a dict), lint and compile; raise InvalidPolicy (exit 2) listing every problem."""
    decoded, problems = check_policy(policy, scope)
    if problems or decoded is None:
        raise InvalidPolicy(problems)
    return FilterPolicy(decoded, scope)


def check_policy(
    policy: PolicySource, scope: Scope = "attributes"
) -> tuple[dict[str, Any] | None, list[Problem]]:
    """The decoded policy (None when it is no policy at all) and every problem: not JSON, too large, or
    against AWS's constraints. A dict goes through JSON text too, so both forms meet the same rules."""
    if isinstance(policy, str):
        text = policy
    else:
        try:
            text = json.dumps(dict(policy) if isinstance(policy, Mapping) else policy)
        except (TypeError, ValueError) as exc:
            return None, [Problem("$", f"not JSON: {exc}")]
    decoded, problems = decode_policy(text)
    if decoded is not None:
        problems += lint(decoded, scope)
    return decoded, problems


def _no_constant(name: str) -> Any:
    raise ValueError(f"not JSON: {name} is not a JSON number")


def lint(policy: dict[str, Any], scope: Scope = "attributes") -> list[Problem]:
    """Every way the policy breaks AWS's constraints, each with its JSON path; empty when valid."""
    problems: list[Problem] = []
    _lint_object(policy, "$", scope, 1, problems)
    if problems:
        return problems
    leaf_keys = _leaf_keys(policy, ())
    if len(leaf_keys) > MAX_KEYS:
        counted = "leaf keys" if scope == "body" else "keys"
        problems.append(Problem("$", f"{len(leaf_keys)} {counted}: a filter policy has at most {MAX_KEYS}"))
    total = combinations(policy)
    if total > MAX_COMBINATIONS:
        problems.append(
            Problem("$", f"{total} value combinations: a filter policy allows at most {MAX_COMBINATIONS}")
        )
    return problems


def _lint_object(
    policy: dict[str, Any], path: str, scope: Scope, depth: int, problems: list[Problem]
) -> None:
    if depth > 1 and not policy:
        problems.append(Problem(path, "empty objects are not allowed"))
    for key, value in policy.items():
        key_path = f"{path}{path_text([key])[1:]}"
        if key == "$or" and is_or_operator(value):
            for index, branch in enumerate(value):
                _lint_object(branch, f"{key_path}[{index}]", scope, depth, problems)
        elif key == "$or" and isinstance(value, list) and any(is_branch(b) for b in value):
            problems.append(
                Problem(key_path, "$or needs a list of at least two objects without operator keys")
            )
        elif isinstance(value, dict):
            if scope != "body":
                problems.append(Problem(key_path, "nested policies need body scope (--scope body)"))
            else:
                _lint_object(value, key_path, scope, depth + 1, problems)
        elif isinstance(value, list):
            if not value:
                problems.append(Problem(key_path, "empty arrays are not allowed"))
            for index, condition in enumerate(value):
                _lint_condition(condition, f"{key_path}[{index}]", problems)
        else:
            problems.append(
                Problem(key_path, "must be an array of conditions (or, in body scope, an object)")
            )


def _lint_condition(condition: Any, path: str, problems: list[Problem]) -> None:
    if condition is None or isinstance(condition, bool | str):
        return
    if isinstance(condition, int | float):
        _lint_number(condition, path, problems)
        return
    if not isinstance(condition, dict):
        problems.append(
            Problem(path, "a condition is a string, number, true, false, null or an operator object")
        )
        return
    if len(condition) != 1:
        problems.append(Problem(path, "an operator object has exactly one key"))
        return
    ((name, operand),) = condition.items()
    where = f"{path}.{name}" if re.fullmatch(r"[A-Za-z_][\w-]*", name) else f"{path}[{json.dumps(name)}]"
    if name not in OPERATORS:
        problems.append(Problem(where, f"unknown operator; known: {', '.join(sorted(OPERATORS))}"))
    elif name in ("prefix", "suffix", "equals-ignore-case"):
        _lint_string(operand, where, name, problems)
    elif name == "wildcard":
        _lint_string(operand, where, name, problems)
        if isinstance(operand, str) and operand.count("*") > 3:
            problems.append(Problem(where, "at most 3 wildcards in a pattern"))
    elif name == "exists":
        if not isinstance(operand, bool):
            problems.append(Problem(where, "exists takes true or false"))
    elif name == "cidr":
        _lint_cidr(operand, where, problems)
    elif name == "numeric":
        _lint_numeric(operand, where, problems)
    else:
        _lint_anything_but(operand, where, problems)


def _lint_string(operand: Any, where: str, operator: str, problems: list[Problem]) -> None:
    if not isinstance(operand, str):
        problems.append(Problem(where, f"{operator} takes a string"))


def _lint_number(value: Any, where: str, problems: list[Problem]) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        problems.append(Problem(where, "must be a number"))
        return
    number = Decimal(str(value))
    if abs(number) > NUMBER_LIMIT:
        problems.append(Problem(where, f"{value} is outside -1e9..1e9"))
    exponent = number.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -5:
        problems.append(Problem(where, f"{value} has more than 5 decimals"))


def _lint_cidr(operand: Any, where: str, problems: list[Problem]) -> None:
    if not isinstance(operand, str):
        problems.append(Problem(where, "cidr takes a string such as 10.0.0.0/24"))
    elif operand.count("/") != 1:
        problems.append(Problem(where, "malformed CIDR: one '/' required"))
    else:
        try:
            ipaddress.ip_network(operand, strict=False)
        except ValueError as exc:
            problems.append(Problem(where, f"malformed CIDR: {exc}"))


def _lint_numeric(operand: Any, where: str, problems: list[Problem]) -> None:
    if not isinstance(operand, list) or len(operand) not in (2, 4):
        problems.append(Problem(where, 'numeric takes ["op", n] or [">"|">=", low, "<"|"<=", high]'))
        return
    pairs = [(operand[i], operand[i + 1]) for i in range(0, len(operand), 2)]
    found: list[Problem] = []
    for index, (op, value) in enumerate(pairs):
        if op not in ("=", "<", "<=", ">", ">="):
            found.append(Problem(f"{where}[{index * 2}]", f"unknown numeric operator {op!r}"))
        if isinstance(value, bool) or not isinstance(value, int | float):
            found.append(Problem(f"{where}[{index * 2 + 1}]", "numeric bounds are JSON numbers"))
        else:
            _lint_number(value, f"{where}[{index * 2 + 1}]", found)
    problems += found
    if len(pairs) == 2 and not found:
        (low_op, low), (high_op, high) = pairs
        if low_op not in (">", ">=") or high_op not in ("<", "<="):
            problems.append(Problem(where, 'a range is [">"|">=", low, "<"|"<=", high]'))
        elif low >= high:
            problems.append(Problem(where, "the lower bound must be below the upper bound"))


def _lint_anything_but(operand: Any, where: str, problems: list[Problem]) -> None:
    if isinstance(operand, dict):
        if len(operand) != 1 or next(iter(operand)) not in ("prefix", "suffix", "wildcard"):
            problems.append(
                Problem(where, "anything-but takes a value, a list, or one of prefix, suffix, wildcard")
            )
            return
        ((inner, value),) = operand.items()
        _lint_string(value, f"{where}.{inner}", inner, problems)
        return
    values = operand if isinstance(operand, list) else [operand]
    if not values:
        problems.append(Problem(where, "anything-but needs at least one value"))
    for index, value in enumerate(values):
        here = f"{where}[{index}]" if isinstance(operand, list) else where
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            problems.append(Problem(here, "anything-but values are strings or numbers"))
        elif not isinstance(value, str):
            _lint_number(value, here, problems)


def _leaf_keys(policy: dict[str, Any], prefix: tuple[str, ...]) -> set[tuple[str, ...]]:
    keys: set[tuple[str, ...]] = set()
    for key, value in policy.items():
        if key == "$or" and is_or_operator(value):
            for branch in value:
                keys |= _leaf_keys(branch, prefix)
        elif isinstance(value, dict):
            keys |= _leaf_keys(value, (*prefix, key))
        else:
            keys.add((*prefix, key))
    return keys


def combinations(policy: dict[str, Any], level: int = 1) -> int:
    """AWS's complexity: summed over every $or expansion, the product of (values x nesting level) per leaf
    key. Computed as a product of sums (AND multiplies, $or adds), never expanding the branches."""
    total = 1
    for key, value in policy.items():
        if key == "$or" and is_or_operator(value):
            total *= sum(combinations(branch, level) for branch in value)
        elif isinstance(value, dict):
            total *= combinations(value, level + 1)
        else:
            total *= (len(value) if isinstance(value, list) else 1) * level
    return total
