"""tail: watch a channel without consuming it. The broker-specific reading (SQS snapshots, SNS ephemeral
queues, ActiveMQ browsing and subscriptions) is a ``TailSource``; selection and stopping happen here."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from msgctl.core.payloads import Resolver, named_failure
from msgctl.envelope import Envelope
from msgctl.errors import UsageError
from msgctl.filter.engine import FilterPolicy
from msgctl.filter.messages import message_from_envelope

DEFAULT_MAX_HOLD_S = 60
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)?")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


@dataclass(frozen=True)
class TailOptions:
    follow: bool = False
    max: int | None = None
    wait: float | None = None
    consume: bool = False
    force: bool = False
    hold: int | None = None
    unwrap: bool = True
    since: timedelta | None = None
    filter: FilterPolicy | None = None
    grep: re.Pattern[str] | None = None
    duration: float | None = None  # seconds: a live topic is read for this long


@dataclass
class TailReport:
    shown: int = 0
    skipped: int = 0
    notes: list[str] = field(default_factory=list)  # what the scan cost or could not see, for stderr
    partial: str | None = None  # why the read could not show every message: the command exits 3
    cut_groups: list[str] = field(default_factory=list)  # FIFO groups shown only in part
    unresolved: list[str] = field(default_factory=list)  # payloads that could not be read: the exit is 3

    def partial_marker(self) -> dict[str, Any] | None:
        """The last record of a partial NDJSON/JSON output, so a reader of the file knows it is cut."""
        if self.partial is None:
            return None
        return {"partial": True, "reason": self.partial, "cut_groups": self.cut_groups}


class TailSource(Protocol):
    """One channel's messages as envelopes. ``poll`` yields None when nothing arrived for a while, so the
    caller can stop on --wait; a finite snapshot simply ends."""

    def poll(self) -> Iterator[Envelope | None]: ...

    def printed(self, envelope: Envelope) -> None:
        """Called once an envelope was written; --consume deletes or acks it here."""

    def close(self, report: TailReport) -> None:
        """Release or remove whatever the tail holds (also on Ctrl-C and errors) and add notes."""


def tail(
    source: TailSource,
    options: TailOptions,
    report: TailReport,
    stop_requested: Callable[[], bool] = lambda: False,
    resolver: Resolver | None = None,
) -> Iterator[Envelope]:
    """Envelopes that pass --since/--filter/--grep, until --max, --wait idle seconds, the duration, a stop
    request (checked between messages, so a receive is never cut off half-way), or the end. With a
    ``resolver``, pointer messages carry their S3 payloads (before the filter sees them)."""
    started = idle_since = time.monotonic()
    oldest = datetime.now(UTC) - options.since if options.since else None
    polled = source.poll()
    if resolver is not None:
        polled = resolver.stream(polled, lambda envelope: envelope, most=options.max)
    for envelope in polled:
        if stop_requested():
            report.notes.append("interrupted")
            return
        now = time.monotonic()
        if options.duration is not None and now - started >= options.duration:
            return
        if envelope is None:
            if options.wait is not None and now - idle_since >= options.wait:
                return
            continue
        idle_since = now
        unread = named_failure(envelope) if resolver is not None else None
        judged = unread is None or options.filter is None or options.filter.scope != "body"
        if not judged or not _selected(envelope, options, oldest):
            report.skipped += 1
            if unread is not None and not judged:  # the filter could not judge it: named
                report.unresolved.append(unread)
            continue
        if unread is not None:  # shown as its pointer, named
            report.unresolved.append(unread)
        yield envelope
        source.printed(envelope)
        report.shown += 1
        if options.max is not None and report.shown >= options.max:
            return


def _selected(envelope: Envelope, options: TailOptions, oldest: datetime | None) -> bool:
    if oldest is not None:
        sent = envelope.attributes.get("sent_at")
        if isinstance(sent, str) and datetime.fromisoformat(sent.replace("Z", "+00:00")) < oldest:
            return False
    if options.grep is not None and not options.grep.search(envelope.text or ""):
        return False
    return options.filter is None or options.filter.matches(message_from_envelope(envelope))


def parse_duration(text: str) -> timedelta:
    """``90``, ``90s``, ``15m``, ``2h``, ``1d``, ``500ms``."""
    match = _DURATION.fullmatch(text.strip())
    if not match:
        raise UsageError(f"bad duration {text!r}: expected a number with ms, s, m, h or d")
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


def iso(timestamp_ms: int | float | str | None) -> str | None:
    """Milliseconds since the epoch as ISO-8601 UTC."""
    if timestamp_ms in (None, ""):
        return None
    try:
        seconds = float(timestamp_ms) / 1000
    except (TypeError, ValueError):
        return None
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
