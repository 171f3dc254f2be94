"""Replaying captured messages: where they come from (a file, envelopes, a channel read as tail reads it),
the target and its ledger, and the result. The id rules and the sending are in ``core.replay``."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from msgctl.address import Channel, parse_channel
from msgctl.backends.registry import Backends
from msgctl.core.ledger import Ledger
from msgctl.core.progress import OnProgress, ProgressCounter
from msgctl.core.replay import (
    DEFAULT_CONCURRENCY,
    ReplayOptions,
    ReplayPlan,
    ReplayReport,
    prepare,
    replay,
)
from msgctl.core.replay_ids import parse_dedup_rule, parse_group_rule
from msgctl.core.state_paths import default_ledger
from msgctl.envelope import Envelope
from msgctl.errors import ExitCode, Interrupted, MsgctlError, UsageError
from msgctl.filter.engine import FilterPolicy

ReplaySource = str | Path | Channel | Iterable[Envelope | str | bytes]


@dataclass
class ReplayRequest:
    source: ReplaySource
    to: Channel
    dedup_id: str | None = None
    group_id: str | None = "keep"
    ledger: Path | None = None
    dry_run: bool = False
    force: bool = False
    rate: float | None = None
    concurrency: int = DEFAULT_CONCURRENCY
    filter: FilterPolicy | None = None
    max: int | None = None
    duration: float | None = None  # seconds: reading a topic
    skip_invalid: bool = False


@dataclass
class ReplayResult:
    """What a replay did: ``sent``, ``skipped`` (already replayed, repeated, filtered out, invalid),
    ``possible_duplicates``; ``report`` has every count, ``document`` is the CLI's JSON output."""

    target: str
    report: ReplayReport
    dry_run: bool = False
    ledger: Path | None = None
    notes: list[str] = field(default_factory=list)
    summary: str = ""

    @property
    def sent(self) -> int:
        return self.report.replayed

    @property
    def would_send(self) -> list[dict[str, Any]]:
        return [m.to_json() for m in self.report.would_send]

    @property
    def skipped(self) -> int:
        report = self.report
        return (
            report.already_replayed
            + report.repeated_in_input
            + report.filtered_out
            + len(report.skipped_invalid)
        )

    @property
    def possible_duplicates(self) -> list[dict[str, Any]]:
        return [m.to_json() for m in {m.dedup_id: m for m in self.report.possible_duplicates}.values()]

    @property
    def exit_code(self) -> ExitCode:
        report = self.report
        if self.dry_run:
            return ExitCode.OK
        if report.failed or report.partial_input is not None or report.deduplicated_by_target:
            return ExitCode.PARTIAL
        return ExitCode.OK

    @property
    def complete(self) -> bool:
        return self.exit_code == ExitCode.OK

    @property
    def document(self) -> dict[str, Any]:
        return {"target": self.target, "ledger": str(self.ledger), **self.report.to_json()}


def source_channel(source: ReplaySource) -> Channel | None:
    """The channel a replay reads, or None for a file or envelopes."""
    if isinstance(source, Channel):
        return source
    if not isinstance(source, str):
        return None
    if Path(source).expanduser().is_file():
        return None
    if ":" not in source:
        raise UsageError(f"{source}: no such file (and not a channel address)")
    return parse_channel(source)


def run_replay(backends: Backends, request: ReplayRequest, on_progress: OnProgress | None) -> ReplayResult:
    reading = source_channel(request.source)
    _check_window(reading, request)
    dedup_rule, group_rule = parse_dedup_rule(request.dedup_id), parse_group_rule(request.group_id)
    target, target_key = backends.outbound_target(request.to)
    plan = ReplayPlan(
        dedup_rule, group_rule, target.fifo, request.filter, request.max, request.skip_invalid, target.check
    )
    report = ReplayReport()
    notes: list[str] = []
    messages = prepare(_lines(backends, request, reading, notes), plan, report)
    notes += [f"line {line} skipped: {reason}" for line, reason in report.skipped_invalid]
    if report.partial_input is not None:
        notes.append(f"partial input: {report.partial_input}")
    for note in notes:  # before anything is sent: a caller watching warnings may still stop
        backends.warn(note)
    options = ReplayOptions(
        force=request.force, concurrency=request.concurrency, rate=request.rate, dry_run=request.dry_run
    )
    result = ReplayResult(str(request.to), report, request.dry_run)
    book = _open_ledger(request.ledger, target_key, must_exist=request.dry_run)
    result.ledger = book.path if book is not None else None
    progress = ProgressCounter(on_progress, f"replay -> {request.to}", len(messages))
    try:
        replay(messages, target, book, options, report, progress.advance, backends.warn)
    except KeyboardInterrupt:
        raise Interrupted(_stopped(result), result) from None
    except MsgctlError as exc:
        exc.result = result
        exc.note = _stopped(result)
        raise
    finally:
        if book is not None:
            book.close()
    result.summary = summary(report, request.to, request.dry_run)
    return result


def _stopped(result: ReplayResult) -> str:
    return f"stopped: run the same replay again to send the rest (ledger {result.ledger})"


def _check_window(reading: Channel | None, request: ReplayRequest) -> None:
    """A live topic has no end: reading one needs a max or a duration (also for a dry run)."""
    topic = reading is not None and reading.kind == "topic"
    if topic and request.max is None and request.duration is None:
        raise UsageError(
            f"{reading} is a live topic, read for as long as msgctl runs: pass --max or --duration"
        )
    if request.duration is not None and not topic:
        raise UsageError("--duration is for reading a topic")


def _lines(
    backends: Backends, request: ReplayRequest, reading: Channel | None, notes: list[str]
) -> Iterator[tuple[int, str | bytes]]:
    source = request.source
    if reading is not None:
        yield from _channel_lines(backends, reading, request, notes)
    elif isinstance(source, str | Path):
        with Path(source).expanduser().open("rb") as handle:
            yield from enumerate(handle, start=1)
    elif not isinstance(source, Channel):  # a Channel is read above
        for number, item in enumerate(source, start=1):
            yield number, item.dumps() if isinstance(item, Envelope) else item


def _channel_lines(
    backends: Backends, channel: Channel, request: ReplayRequest, notes: list[str]
) -> Iterator[tuple[int, str | bytes]]:
    """A channel read as tail reads it: a queue's snapshot, released at the end; a topic for the window."""
    from msgctl.api.messages import MessageStream
    from msgctl.core.tail import TailOptions

    topic = channel.kind == "topic"
    options = TailOptions(
        force=request.force,
        max=request.max if topic else None,
        duration=request.duration if topic else None,
        follow=topic,
    )
    with MessageStream(backends.tail_source(channel, options), options) as stream:
        envelopes = list(stream)
    notes += stream.report.notes
    for number, envelope in enumerate(envelopes, start=1):
        yield number, envelope.dumps()
    marker = stream.report.partial_marker()
    if marker is not None:  # read like a cut export: the replay says it is partial and exits 3
        yield len(envelopes) + 1, json.dumps(marker)


def _open_ledger(path: Path | None, target_key: str, must_exist: bool) -> Ledger | None:
    """The target's ledger; one that records another target is refused. A dry run creates none."""
    path = path or default_ledger(target_key)
    if must_exist and not path.exists():
        return None
    book = Ledger(path)
    recorded = book.meta("target")
    if recorded is None:
        book.set_meta({"target": target_key})
    elif recorded != target_key:
        book.close()
        raise UsageError(f"{path} is the ledger of {recorded}, not of {target_key}: pass another --ledger")
    return book


def summary(report: ReplayReport, target: Channel, dry_run: bool) -> str:
    sent = f"would send {len(report.would_send)}" if dry_run else f"replayed {report.replayed}"
    counted = (
        (report.already_replayed, "already replayed (the ledger; --force sends them again)"),
        (report.repeated_in_input, "repeated in the input"),
        (report.filtered_out, "filtered out"),
        (len(report.skipped_invalid), "invalid lines skipped"),
        (len(report.failed), "failed"),
        (len(report.possible_duplicates), "possibly sent twice (listed in the output)"),
        (
            len(report.deduplicated_by_target),
            "dropped by the target: sent less than 5 minutes ago with the same deduplication id "
            "(deduplicated_by_target)",
        ),
    )
    return "; ".join(
        [f"{sent} of {report.read} read into {target}"] + [f"{n} {what}" for n, what in counted if n]
    )
