"""SNS subscription filter policies, evaluated offline the way the Amazon SNS documentation describes them.

A policy is compiled once (``compile_policy``) into a tree of predicates, then decides any number of
messages without walking the policy JSON again. Semantics, with the documentation's silences resolved:

- Keys are ANDed, the conditions of a key are ORed, ``$or`` holds alternative sub-policies (recognised
  only as the docs say: a list of at least two objects that use no operator name as a key).
- A key absent from the message fails every condition except ``{"exists": false}``; in attributes scope
  ``exists: false`` needs at least one attribute on the message (the docs' note on empty attribute sets).
- Lists in the message (String.Array attributes, JSON arrays in the body, at any depth) match when any
  element matches, for every operator, ``anything-but`` included (the docs' examples).
- Strings match string conditions, numbers numeric ones: a Number attribute never equals ``"100"``, a
  String attribute never satisfies ``numeric``. Numbers compare with 5 decimal places.
- In the body, ``null`` matches the literal ``null`` and counts as absent for ``exists``; objects are not
  leaves and match nothing.
"""

from __future__ import annotations

import ipaddress
import json
import operator
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any, Literal

Scope = Literal["attributes", "body"]
OPERATORS = frozenset(
    {"anything-but", "numeric", "prefix", "suffix", "equals-ignore-case", "exists", "cidr", "wildcard"}
)
MAX_KEYS = 5
MAX_COMBINATIONS = 150
MAX_BYTES = 256 * 1024
NUMBER_LIMIT = Decimal(10) ** 9
PRECISION = Decimal("0.00001")
_MISSING: Any = object()


@dataclass(frozen=True)
class Message:
    """What a filter policy looks at: the body, and message attributes as (type, value) pairs.

    Values are text as SNS carries them (a String.Array is its JSON text); Binary values are bytes.
    """

    body: str = ""
    attributes: dict[str, tuple[str, str | bytes]] = field(default_factory=dict)


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
    """A compiled policy. ``FilterPolicy(policy, scope)`` lints nothing; call ``lint`` first for that."""

    def __init__(self, policy: dict[str, Any], scope: Scope = "attributes") -> None:
        self.policy = policy
        self.scope = scope
        self._root = _compile_object(policy, (), scope)

    def matches(self, message: Message) -> bool:
        return self.decide(message).match

    def decide(self, message: Message) -> Decision:
        if self.scope == "body":
            try:
                document = json.loads(message.body, parse_float=Decimal, parse_int=Decimal)
            except (ValueError, RecursionError):
                return Decision(False, "the body is not JSON")
            if not isinstance(document, dict):
                return Decision(False, "the body is not a JSON object")
            context: Context = _BodyContext(document)
        else:
            context = _AttributeContext(message.attributes)
        failure = self._root(context)
        return Decision(True) if failure is None else Decision(False, failure)


# Message access ------------------------------------------------------------------------------------------


class _AttributeContext:
    def __init__(self, attributes: dict[str, tuple[str, str | bytes]]) -> None:
        self.attributes = attributes
        self.has_any = bool(attributes)

    def values(self, path: tuple[str, ...]) -> Any:
        found = self.attributes.get(path[0]) if len(path) == 1 else None
        if found is None:
            return _MISSING
        return _attribute_values(*found)


class _BodyContext:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.has_any = True

    def values(self, path: tuple[str, ...]) -> Any:
        found: list[Any] = []
        _collect(self.document, path, found)
        return found if found else _MISSING


def _collect(node: Any, path: tuple[str, ...], found: list[Any]) -> None:
    """Follow the path through objects; lists are traversed transparently at every level."""
    if isinstance(node, list):
        for item in node:
            _collect(item, path, found)
        return
    if not path:
        if not isinstance(node, dict):
            found.append(node)
        return
    if isinstance(node, dict) and path[0] in node:
        _collect(node[path[0]], path[1:], found)


class _Binary:
    """A Binary attribute: present for ``exists``, ignored by every value condition."""


_BINARY = _Binary()


def _attribute_values(type_: str, value: str | bytes) -> list[Any]:
    if type_.startswith("Binary") or isinstance(value, bytes):
        return [_BINARY]
    if type_.startswith("Number"):
        number = _to_number(value)
        return [number] if number is not None else []
    if type_.startswith("String.Array"):
        try:
            items = json.loads(value, parse_float=Decimal, parse_int=Decimal)
        except ValueError:
            return [value]
        return list(items) if isinstance(items, list) else [items]
    return [value]


def _to_number(value: Any) -> Decimal | None:
    try:
        return Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        return None


def _quantized(number: Decimal) -> Decimal:
    try:
        return number.quantize(PRECISION, rounding=ROUND_HALF_EVEN)
    except InvalidOperation:  # too large to carry 5 decimals: compare as is
        return number


# Compilation ---------------------------------------------------------------------------------------------

Context = _AttributeContext | _BodyContext
Node = Callable[[Context], "str | None"]  # None: satisfied; otherwise why not
ValueTest = Callable[[Any], bool]


def _compile_object(policy: dict[str, Any], prefix: tuple[str, ...], scope: Scope) -> Node:
    nodes: list[Node] = []
    for key, condition in policy.items():
        if key == "$or" and is_or_operator(condition):
            nodes.append(
                _compile_or([_compile_object(branch, prefix, scope) for branch in condition], prefix)
            )
        elif isinstance(condition, dict):
            nodes.append(_compile_object(condition, (*prefix, key), scope))
        else:
            nodes.append(
                _compile_leaf((*prefix, key), condition if isinstance(condition, list) else [condition])
            )

    def all_of(context: Context) -> str | None:
        for node in nodes:
            failure = node(context)
            if failure is not None:
                return failure
        return None

    return all_of


def _compile_or(branches: list[Node], prefix: tuple[str, ...]) -> Node:
    where = _path_text(prefix)

    def any_of(context: Context) -> str | None:
        failures = []
        for branch in branches:
            failure = branch(context)
            if failure is None:
                return None
            failures.append(failure)
        return f"no $or alternative{' at ' + where if prefix else ''} matched ({'; '.join(failures)})"

    return any_of


def _compile_leaf(path: tuple[str, ...], conditions: list[Any]) -> Node:
    exists_wanted = [c["exists"] for c in conditions if isinstance(c, dict) and "exists" in c]
    strings = {c for c in conditions if isinstance(c, str)}
    numbers = {
        _quantized(Decimal(str(c)))
        for c in conditions
        if isinstance(c, int | float) and not isinstance(c, bool)
    }
    literals = [c for c in conditions if c is None or isinstance(c, bool)]
    tests = [_compile_operator(c) for c in conditions if isinstance(c, dict) and "exists" not in c]
    shown = json.dumps(conditions)
    where = _path_text(path)

    def value_matches(value: Any) -> bool:
        if isinstance(value, str):
            if value in strings:
                return True
        elif isinstance(value, Decimal):
            if numbers and _quantized(value) in numbers:
                return True
        elif (value is None or isinstance(value, bool)) and any(value is literal for literal in literals):
            return True
        return any(test(value) for test in tests)

    def leaf(context: Context) -> str | None:
        values = context.values(path)
        present = values is not _MISSING and any(_is_present(v) for v in values)
        for wanted in exists_wanted:
            if wanted and present:
                return None
            if not wanted and not present and context.has_any:
                return None
        if values is not _MISSING and any(value_matches(v) for v in values if v is not _BINARY):
            return None
        return f"{where}: {_describe(values)} matches none of {shown}"

    return leaf


def _is_present(value: Any) -> bool:
    return value is not None and value != "" and value != []


def _compile_operator(condition: dict[str, Any]) -> ValueTest:
    ((name, operand),) = condition.items()
    if name == "prefix":
        return lambda v: isinstance(v, str) and v.startswith(operand)
    if name == "suffix":
        return lambda v: isinstance(v, str) and v.endswith(operand)
    if name == "equals-ignore-case":
        folded = operand.casefold()
        return lambda v: isinstance(v, str) and v.casefold() == folded
    if name == "wildcard":
        pattern = _wildcard(operand)
        return lambda v: isinstance(v, str) and pattern.fullmatch(v) is not None
    if name == "cidr":
        network = ipaddress.ip_network(operand, strict=False)
        return lambda v: isinstance(v, str) and _in_network(v, network)
    if name == "numeric":
        return _numeric_test(operand)
    if name == "anything-but":
        return _anything_but_test(operand)
    raise ValueError(f"unknown operator {name}")  # lint rejects it before compilation


def _numeric_test(operand: list[Any]) -> ValueTest:
    bounds = [(operand[i], _quantized(Decimal(str(operand[i + 1])))) for i in range(0, len(operand), 2)]
    compare: dict[str, Callable[[Decimal, Decimal], bool]] = {
        "=": operator.eq,
        "<": operator.lt,
        "<=": operator.le,
        ">": operator.gt,
        ">=": operator.ge,
    }
    checks = [(compare[op], bound) for op, bound in bounds]

    def test(value: Any) -> bool:
        if not isinstance(value, Decimal):
            return False
        number = _quantized(value)
        return all(check(number, bound) for check, bound in checks)

    return test


def _anything_but_test(operand: Any) -> ValueTest:
    if isinstance(operand, dict):
        inner = _compile_operator(operand)
        return lambda v: isinstance(v, str) and not inner(v)
    excluded = operand if isinstance(operand, list) else [operand]
    strings = {e for e in excluded if isinstance(e, str)}
    numbers = {
        _quantized(Decimal(str(e)))
        for e in excluded
        if isinstance(e, int | float) and not isinstance(e, bool)
    }
    if strings and not numbers:
        return lambda v: isinstance(v, str) and v not in strings
    if numbers and not strings:
        return lambda v: isinstance(v, Decimal) and _quantized(v) not in numbers
    return lambda v: (
        (isinstance(v, str) and v not in strings) or (isinstance(v, Decimal) and _quantized(v) not in numbers)
    )


def _wildcard(pattern: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")), re.DOTALL)


def _in_network(value: str, network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    try:
        return ipaddress.ip_address(value) in network
    except ValueError:
        return False


def _describe(values: Any) -> str:
    if values is _MISSING:
        return "missing"
    shown = ["<binary>" if v is _BINARY else (float(v) if isinstance(v, Decimal) else v) for v in values]
    return json.dumps(shown[0] if len(shown) == 1 else shown, default=str)


def _path_text(path: Iterable[str]) -> str:
    return "$" + "".join(
        f".{key}" if re.fullmatch(r"[A-Za-z_$][\w$-]*", key) else f"[{json.dumps(key)}]" for key in path
    )


def is_or_operator(value: Any) -> bool:
    """``$or`` is an operator only with at least two objects that use no operator name as a key;
    otherwise it is an ordinary key (the SNS documentation's rule)."""
    return isinstance(value, list) and len(value) >= 2 and all(_is_branch(b) for b in value)


def _is_branch(value: Any) -> bool:
    return isinstance(value, dict) and bool(value) and not (set(value) & OPERATORS)


# Lint ----------------------------------------------------------------------------------------------------


def parse_policy(text: str) -> tuple[dict[str, Any] | None, list[Problem]]:
    """Parse policy text; the problems say why it is not a policy at all (not JSON, too large)."""
    problems = []
    size = len(text.encode("utf-8"))
    if size > MAX_BYTES:
        problems.append(Problem("$", f"{size} bytes: a filter policy has at most 256 KB"))
    try:
        policy = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, [Problem("$", f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")]
    if not isinstance(policy, dict):
        return None, [Problem("$", "a filter policy is a JSON object")]
    return policy, problems


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
        key_path = f"{path}{_path_text([key])[1:]}"
        if key == "$or" and is_or_operator(value):
            for index, branch in enumerate(value):
                _lint_object(branch, f"{key_path}[{index}]", scope, depth, problems)
        elif key == "$or" and isinstance(value, list) and any(_is_branch(b) for b in value):
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
    for index, (op, value) in enumerate(pairs):
        if op not in ("=", "<", "<=", ">", ">="):
            problems.append(Problem(f"{where}[{index * 2}]", f"unknown numeric operator {op!r}"))
        if isinstance(value, bool) or not isinstance(value, int | float):
            problems.append(Problem(f"{where}[{index * 2 + 1}]", "numeric bounds are JSON numbers"))
        else:
            _lint_number(value, f"{where}[{index * 2 + 1}]", problems)
    if len(pairs) == 2 and not problems:
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


def combinations(policy: dict[str, Any]) -> int:
    """AWS's complexity: over every $or expansion, the product of (values x nesting level) per leaf key."""
    return sum(_branch_product(branch) for branch in _expand(policy, 1))


def _expand(policy: dict[str, Any], level: int) -> list[list[tuple[int, int]]]:
    """Each $or expansion of the policy as a list of (number of values, nesting level) per leaf key."""
    branches: list[list[tuple[int, int]]] = [[]]
    for key, value in policy.items():
        if key == "$or" and is_or_operator(value):
            options = [option for branch in value for option in _expand(branch, level)]
        elif isinstance(value, dict):
            options = _expand(value, level + 1)
        else:
            options = [[(len(value) if isinstance(value, list) else 1, level)]]
        branches = [existing + option for existing in branches for option in options]
    return branches


def _branch_product(leaves: list[tuple[int, int]]) -> int:
    product = 1
    for values, level in leaves:
        product *= values * level
    return product
