"""Repairs on the way back: a jq program (libjq, through the ``jq`` package) applied to each message's body
(parsed as JSON) or to its whole envelope, compiled once. A program may select a message out (``empty`` or
``null``); one that fails, or gives more than one result, leaves the message where it is, named with why.

jq holds every number as a double. A body number a double cannot hold exactly (an integer beyond 2**53, a
decimal with more digits than a double keeps) would come out changed without a word, so such a message is
refused instead."""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, Literal, Protocol

from msgctl.core.payloads import pointer_of
from msgctl.envelope import Envelope
from msgctl.errors import UsageError

Scope = Literal["body", "envelope"]
EXACT_INTEGERS = 2**53  # a double holds every integer up to this one exactly


class TransformError(Exception):
    """The program could not repair this message: it stays where it is, with this reason."""


@dataclass(frozen=True)
class TransformSpec:
    """What to run: recorded in the journal or ledger, so a resume runs the same program or none."""

    program: str
    scope: Scope = "body"
    args: dict[str, str] = field(default_factory=dict)

    def identity(self) -> str:
        return json.dumps({"scope": self.scope, "program": self.program, "args": self.args}, sort_keys=True)

    def digest(self) -> str:
        return hashlib.sha256(self.identity().encode()).hexdigest()[:12]


def parse_args(pairs: list[str]) -> dict[str, str]:
    """``NAME=VALUE`` pairs, as jq's ``--arg NAME VALUE`` (a string, ``$NAME`` in the program)."""
    args: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.isidentifier():
            raise UsageError(f"--transform-arg {pair!r}: expected NAME=VALUE, NAME a jq variable name")
        args[name] = value
    return args


@dataclass(frozen=True)
class Repaired:
    """A message after the program: ``envelope`` None when the program selected it out."""

    before: Envelope
    envelope: Envelope | None
    program: str = ""  # a short hash of the program (TransformSpec.digest)


class Transform:
    def __init__(self, spec: TransformSpec) -> None:
        import jq  # (lazily: only a repair needs libjq)

        self.spec, self.digest = spec, spec.digest()
        try:
            self._program = jq.compile(spec.program, args=spec.args)
        except ValueError as exc:
            raise UsageError(f"the jq program does not compile: {_first_line(exc)}") from None
        except UnicodeError:
            raise UsageError("the jq program or a --transform-arg is not valid UTF-8") from None

    def apply(self, envelope: Envelope) -> Repaired:
        """Raises TransformError when the program cannot repair this message."""
        pointer = pointer_of(envelope)
        if pointer is not None:  # its body is a pointer: a repair of it would break the message, not fix it
            raise TransformError(
                f"its body is in S3 ({pointer.url}, an extended-client message): a program cannot repair it"
            )
        if self.spec.scope == "body":
            return Repaired(envelope, self._body(envelope), self.digest)
        return Repaired(envelope, self._envelope(envelope), self.digest)

    def _body(self, envelope: Envelope) -> Envelope | None:
        text = envelope.text
        if text is None:
            raise TransformError("its body is not UTF-8 text, so not JSON")
        try:
            value = json.loads(
                text,
                parse_int=_exact_int,
                parse_float=_exact_float,
                parse_constant=_not_json,
                object_pairs_hook=_unique_keys,
            )
        except json.JSONDecodeError as exc:
            raise TransformError(f"its body is not JSON ({exc.msg} at column {exc.colno})") from None
        except (ValueError, RecursionError) as exc:  # (digits past Python's limit, nesting past its stack)
            raise TransformError(f"its body cannot be read as JSON here ({type(exc).__name__})") from None
        result = self._run(value)
        if result is None:
            return None
        if same_json(result, value):
            return envelope  # left as it was: sent byte for byte
        body = json.dumps(result, ensure_ascii=False, separators=(",", ":"))
        return _with_body(envelope, body)

    def _envelope(self, envelope: Envelope) -> Envelope | None:
        result = self._run(envelope.to_json())
        if result is None:
            return None
        if not isinstance(result, dict):
            raise TransformError(f"the program gave {type(result).__name__}, not an envelope object")
        try:
            repaired = Envelope.from_json(result)
        except UsageError as exc:
            raise TransformError(f"the program gave an envelope that is not one: {exc.message}") from None
        return replace(repaired, channel=envelope.channel, id=envelope.id)  # the message is still that one

    def _run(self, value: Any) -> Any:
        try:
            results = self._program.input_value(value).all()
        except ValueError as exc:
            raise TransformError(f"jq: {_first_line(exc)}") from None
        except (RecursionError, UnicodeError, OverflowError) as exc:
            raise TransformError(f"jq could not take it ({type(exc).__name__})") from None
        if len(results) > 1:
            raise TransformError(f"the program gave {len(results)} results; one message is one result")
        return results[0] if results else None


def fingerprint(envelope: Envelope) -> str:
    """A short hash of what is sent (body and attributes, not where it was read): the journal keeps it
    for the message before and after the program."""
    document = envelope.to_json()
    del document["channel"], document["id"]
    text = json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def diff(repaired: Repaired) -> str:
    """A unified diff of the envelope before and after (what a dry run shows)."""
    name = repaired.before.id or "message"
    return diff_documents(name, readable(repaired.before), readable(repaired.envelope))


def diff_documents(name: str, before: dict[str, Any] | None, after: dict[str, Any] | None) -> str:
    """A unified diff of two envelopes as ``readable`` shows them."""
    old, new = _pretty(before), _pretty(after) if after is not None else ["(selected out)"]
    lines = difflib.unified_diff(old, new, f"{name} before", f"{name} after", lineterm="")
    return "\n".join(lines) or f"{name}: unchanged"


def readable(envelope: Envelope | None) -> dict[str, Any] | None:
    """The envelope as a dry run's JSON shows it, the body parsed when it is JSON."""
    if envelope is None:
        return None
    document = envelope.to_json()
    if document["body_encoding"] == "text":
        with contextlib.suppress(json.JSONDecodeError):
            document["body"] = json.loads(document["body"])
    return document


def _pretty(document: dict[str, Any] | None) -> list[str]:
    return json.dumps(document, indent=2, ensure_ascii=False, sort_keys=True).splitlines()


def _with_body(envelope: Envelope, body: str) -> Envelope:
    repaired = replace(envelope, body=body.encode("utf-8"))
    repaired.__dict__["text"] = body
    return repaired


def same_json(a: Any, b: Any) -> bool:
    """Equal as JSON values: numbers by value (jq gives 10.0 back as 10), but true is not 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def _not_json(text: str) -> Any:
    raise TransformError(f"its body holds {text}, which is not JSON (jq would make it another value)")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) != len(pairs):
        repeated = next(key for n, (key, _) in enumerate(pairs) if key in dict(pairs[:n]))
        raise TransformError(f"its body repeats the key {repeated!r} (jq would keep only the last)")
    return found


def _exact_int(text: str) -> int:
    value = int(text)
    if abs(value) > EXACT_INTEGERS:
        raise TransformError(f"its body holds {text}, which jq (doubles) cannot carry exactly")
    return value


def _exact_float(text: str) -> float:
    value = float(text)
    if Decimal(repr(value)) != Decimal(text):
        raise TransformError(f"its body holds {text}, which jq (doubles) cannot carry exactly")
    return value


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


class Repairer(Protocol):
    """What repairs a message on its way: a jq program (Transform), or a person in an editor."""

    digest: str  # recorded with each message repaired

    def apply(self, envelope: Envelope) -> Repaired: ...


class EditRepair:
    """A repair by hand: ``edit`` gets the message and gives it back changed, or None to leave it."""

    digest = "edit"

    def __init__(self, edit: Callable[[Envelope], Envelope | None]) -> None:
        self._edit = edit
        self.offered = 0  # messages handed to ``edit``
        self.unchanged = 0  # of them, given back as they were

    def apply(self, envelope: Envelope) -> Repaired:
        self.offered += 1
        edited = self._edit(envelope)
        if edited is None:
            self.unchanged += 1
            return Repaired(envelope, None, self.digest)
        return Repaired(envelope, replace(edited, channel=envelope.channel, id=envelope.id), self.digest)
