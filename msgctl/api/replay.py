"""Replaying captured messages: where they come from (a file, envelopes, a channel read as tail reads it),
the target and its ledger, and the result. The id rules and the sending are in ``core.replay``."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, cast

from msgctl.address import Channel, parse_channel
from msgctl.api.payloads import offloading_target
from msgctl.backends.registry import Backends
from msgctl.core.file_lock import FileLock
from msgctl.core.ledger import Ledger
from msgctl.core.outbound import OutboundTarget
from msgctl.core.payloads import Resolver, SizedTarget
from msgctl.core.progress import OnProgress, ProgressCounter
from msgctl.core.replay import (
    DEFAULT_CONCURRENCY,
    DryRunTally,
    Preview,
    RecentSends,
    Replayed,
    ReplayOptions,
    ReplayPlan,
    ReplayReport,
    ReplayTarget,
    planned,
    prepare,
    replay,
)
from msgctl.core.replay_ids import parse_dedup_rule, parse_group_rule
from msgctl.core.replay_input import ReplayInput
from msgctl.core.state_paths import default_ledger
from msgctl.core.transform import Transform, TransformSpec
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
    transform: TransformSpec | None = None
    payload_bucket: str | None = None  # bodies the target cannot take go to S3 as the extended clients do
    payload_always: bool = False  # every body goes to S3
    payloads: Resolver | None = None  # reads S3 payloads for the filter


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
    def preview(self) -> dict[str, Any]:
        """A dry run's summary: how many it would send, by group, the first and last few."""
        return {"target": self.target, **self.report.preview.to_json()}

    @property
    def skipped(self) -> int:
        report = self.report
        return (
            report.already_replayed
            + report.repeated_in_input
            + report.filtered_out
            + len(report.skipped_invalid)
            + len(report.unrepaired)
            + len(report.unjudged)
        )

    @property
    def possible_duplicates(self) -> list[dict[str, Any]]:
        return [m.to_json() for m in {m.dedup_id: m for m in self.report.possible_duplicates}.values()]

    @property
    def exit_code(self) -> ExitCode:
        report = self.report
        if report.unrepaired or report.unjudged:  # named, left unsent: a dry run says so too
            return ExitCode.PARTIAL
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
        document = {"target": self.target, "ledger": str(self.ledger), **self.report.to_json()}
        if self.dry_run:
            document = {**document, "dry_run": True, **self.report.preview.to_json()}
            for unsent in ("replayed", "failed", "possible_duplicates", "deduplicated_by_target"):
                del document[unsent]
        return document


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


def run_replay(
    backends: Backends,
    request: ReplayRequest,
    on_progress: OnProgress | None,
    on_would_send: Callable[[dict[str, Any]], None] | None = None,
) -> ReplayResult:
    reading = source_channel(request.source)
    _check_window(reading, request)
    dedup_rule, group_rule = parse_dedup_rule(request.dedup_id), parse_group_rule(request.group_id)
    target, target_key = backends.outbound_target(request.to)
    offloading = offloading_target(
        backends, cast("SizedTarget", target), request.to, request.payload_bucket, request.payload_always
    )
    if offloading is not None:  # (it sends what replay sends: messages whose envelope can be swapped)
        target = cast("OutboundTarget", offloading)
    check = target.check if offloading is not None or request.to.service == "amq" else _hinted(target.check)
    transform = Transform(request.transform) if request.transform is not None else None
    plan = ReplayPlan(
        dedup_rule,
        group_rule,
        target.fifo,
        request.filter,
        request.max,
        request.skip_invalid,
        check,
        transform,
        request.payloads,
    )
    result = ReplayResult(str(request.to), ReplayReport(), request.dry_run)
    result.ledger = request.ledger or default_ledger(target_key)
    lock: FileLock | None = None
    book: Ledger | None = None
    try:
        book = _open_ledger(result.ledger, target_key, create=False)  # bad input must not leave one behind
        with _input(backends, request, reading) as source:
            report = result.report
            recent = RecentSends(book, target, request.force)
            summing = request.dry_run and on_would_send is None
            tally = DryRunTally(book, report) if summing and book is not None else None
            found = prepare(
                source,
                plan,
                report,
                recent if recent.active else None,
                tally.add if tally is not None else None,
                preview=summing and book is None,
            )
            _warn(backends, report, recent.count(found), request.to, source.notes)
            if not request.dry_run:  # the input is good: from here on the ledger is this run's
                lock = _held_ledger(result.ledger)
                if request.transform is not None:  # each entry names the program by this digest
                    book = book or _open_ledger(result.ledger, target_key, create=True)
                    if book is not None:
                        spec = request.transform
                        book.set_meta({f"transform {spec.digest()}": spec.identity()})
            if summing and not found.settled_late:  # the first pass saw every message as it is to be sent
                if tally is not None:
                    tally.flush()
                else:
                    report.preview = found.tally
            else:
                report.preview, report.already_replayed = Preview(), 0
                if book is None and not request.dry_run:
                    book = _open_ledger(result.ledger, target_key, create=True)
                messages = planned(source, found, plan)
                _send(messages, target, book, request, result, on_progress, on_would_send)
    finally:
        if book is not None:
            book.close()
        if lock is not None:
            lock.release()
    if offloading is not None:
        result.report.payloads_stored = offloading.stored
    result.summary = summary(result.report, request.to, request.dry_run)
    return result


def _send(
    messages: Iterable[Replayed],
    target: ReplayTarget,
    book: Ledger | None,
    request: ReplayRequest,
    result: ReplayResult,
    on_progress: OnProgress | None,
    on_would_send: Callable[[dict[str, Any]], None] | None,
) -> None:
    """The second pass: send (or, a dry run, list) the messages as they are read again."""
    options = ReplayOptions(
        force=request.force, concurrency=request.concurrency, rate=request.rate, dry_run=request.dry_run
    )
    progress = ProgressCounter(on_progress, f"replay -> {request.to}", result.report.planned)
    would_send = (lambda m: on_would_send(m.to_json())) if on_would_send is not None else None
    try:
        replay(messages, target, book, options, result.report, progress.advance, would_send)
    except KeyboardInterrupt:
        raise Interrupted(_stopped(result), result) from None
    except MsgctlError as exc:
        exc.result = result
        exc.note = _stopped(result)
        raise


def _hinted(check: Callable[[Replayed], None]) -> Callable[[Replayed], None]:
    """The target's check, saying how a body over its size limit can go all the same."""
    from msgctl.backends.aws_targets import TooLargeError

    def hinted(message: Replayed) -> None:
        try:
            check(message)
        except TooLargeError as exc:
            raise UsageError(f"{exc.message}: --payload-bucket BUCKET sends it as an S3 payload") from None

    return hinted


def _warn(backends: Backends, report: ReplayReport, recent: int, target: Channel, notes: list[str]) -> None:
    """Before anything is sent: a caller watching warnings may still stop."""
    notes = notes + [f"line {line} skipped: {reason}" for line, reason in report.skipped_invalid]
    notes += [f"line {line} left unsent: {reason}" for line, reason in report.unrepaired + report.unjudged]
    if report.partial_input is not None:
        notes.append(f"partial input: {report.partial_input}")
    if recent:
        notes.append(
            f"{recent} of these deduplication ids were sent to {target} less than 5 minutes ago: it accepts "
            "such a resend and drops it. One it answers with the earlier message's id is listed as "
            "deduplicated_by_target (exit 3); any other cannot be told from a message sent"
        )
    for note in notes:
        backends.warn(note)


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


def _input(backends: Backends, request: ReplayRequest, reading: Channel | None) -> ReplayInput:
    """The input, to be read twice: a file where it is, anything else spooled to a temporary file."""
    source = request.source
    if reading is not None:
        return _spool_channel(backends, reading, request)
    if isinstance(source, str | Path):
        return ReplayInput.of_path(Path(source))
    if isinstance(source, io.IOBase):
        return ReplayInput.of_stream(cast(IO[bytes], source))
    assert not isinstance(source, Channel)  # read above
    return ReplayInput.of_items(source)


def _spool_channel(backends: Backends, channel: Channel, request: ReplayRequest) -> ReplayInput:
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
        source = ReplayInput.of_items(stream, str(channel))
    source.notes += stream.report.notes
    marker = stream.report.partial_marker()
    if marker is not None:  # read like a cut export: the replay says it is partial and exits 3
        source.append(json.dumps(marker))
    return source


def _held_ledger(path: Path) -> FileLock:
    """A replay holds its ledger from the end of its first pass: a second one on the same file (any
    process) is refused before it sends anything."""
    lock = FileLock(path, "the ledger", "another replay", "wait for it to end")
    lock.acquire()
    return lock


def _open_ledger(path: Path, target_key: str, create: bool) -> Ledger | None:
    """The target's ledger (None when there is none and ``create`` is False); one that records another
    target is refused."""
    if not create and not path.exists():
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
    sent = f"would send {report.preview.count}" if dry_run else f"replayed {report.replayed}"
    counted = (
        (report.already_replayed, "already replayed (the ledger; --force sends them again)"),
        (report.repeated_in_input, "repeated in the input"),
        (report.filtered_out, "filtered out"),
        (len(report.skipped_invalid), "invalid lines skipped"),
        (len(report.unrepaired), "not repaired by the program, left unsent (unrepaired)"),
        (len(report.unjudged), "whose S3 payload the filter could not read, left unsent (unjudged)"),
        (len(report.failed), "failed"),
        (report.payloads_stored, "bodies put in S3 and sent as extended-client pointers"),
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
