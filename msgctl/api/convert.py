"""What the library's arguments may be, turned into what the core takes: channel strings or ``Channel``,
filter policies as a dict, JSON text or an already parsed ``FilterPolicy``, durations as text or seconds."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

from msgctl.address import Channel, parse_channel
from msgctl.envelope import MessageAttribute
from msgctl.errors import UsageError

if TYPE_CHECKING:
    from msgctl.core.transform import TransformSpec
    from msgctl.filter.engine import FilterPolicy, Scope

ChannelLike = str | Channel
Confirm = Callable[[str], bool]


def channel_of(value: ChannelLike) -> Channel:
    return value if isinstance(value, Channel) else parse_channel(value)


def policy_of(value: Any, scope: Scope = "attributes") -> FilterPolicy | None:
    """A filter policy from JSON text or a dict, parsed and linted (``InvalidPolicy`` lists the problems)."""
    from msgctl.filter.engine import FilterPolicy
    from msgctl.filter.lint import parse_policy

    if value is None or isinstance(value, FilterPolicy):
        return value
    if scope not in ("attributes", "body"):
        raise UsageError("the filter's scope must be attributes or body")
    if not isinstance(value, str | Mapping):
        raise UsageError(f"a filter policy is JSON text or a dict, not {type(value).__name__}")
    return parse_policy(value, scope)


def seconds_of(value: str | float | timedelta | None) -> float | None:
    from msgctl.core.tail import parse_duration

    if value is None or isinstance(value, int | float):
        return value
    if isinstance(value, timedelta):
        return value.total_seconds()
    return parse_duration(value).total_seconds()


def attributes_of(values: Mapping[str, Any] | None) -> dict[str, MessageAttribute]:
    """Message attributes: ``MessageAttribute`` values as they are; plain ones typed as SQS would (str ->
    String, int/float -> Number, bytes -> Binary, list of str -> String.Array)."""
    attributes: dict[str, MessageAttribute] = {}
    for name, value in (values or {}).items():
        if isinstance(value, MessageAttribute):
            attributes[name] = value
        elif isinstance(value, bool) or value is None:
            raise UsageError(f"attribute {name!r}: use a string, a number, bytes, a list or MessageAttribute")
        elif isinstance(value, str):
            attributes[name] = MessageAttribute("String", value)
        elif isinstance(value, int | float):
            attributes[name] = MessageAttribute("Number", str(value))
        elif isinstance(value, bytes):
            attributes[name] = MessageAttribute("Binary", value)
        elif isinstance(value, list) and all(isinstance(item, str) for item in value):
            attributes[name] = MessageAttribute("String.Array", value)
        else:
            raise UsageError(f"attribute {name!r}: cannot send a {type(value).__name__}")
    return attributes


def go_ahead(confirm: Confirm | None, question: str, action: str) -> None:
    """Ask the caller's ``confirm`` callback (if any) before changing something; no means nothing changes."""
    if confirm is not None and not confirm(question):
        raise UsageError(f"{action}: declined; nothing changed")


def transform_spec(
    body_program: str | None, envelope_program: str | None, args: Mapping[str, str] | None
) -> TransformSpec | None:
    """The repair asked for: a jq program on the body or on the whole envelope (not both), or None."""
    from msgctl.core.transform import TransformSpec

    if body_program is not None and envelope_program is not None:
        raise UsageError("--transform-body and --transform: give one (--transform sees the body too)")
    if args and body_program is None and envelope_program is None:
        raise UsageError("--transform-arg without --transform-body or --transform")
    program = body_program if body_program is not None else envelope_program
    if program is None:
        return None
    if not program.strip():
        raise UsageError("the jq program is empty")
    scope: Literal["body", "envelope"] = "body" if body_program is not None else "envelope"
    return TransformSpec(program, scope, dict(args or {}))
