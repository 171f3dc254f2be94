"""replay: re-send captured messages idempotently, with deduplication ids and a ledger."""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from msgctl.address import Channel, parse_channel
from msgctl.cli.options import (
    DryRunOption,
    FilterOption,
    FilterScopeOption,
    OutputOption,
    parse_scope,
    read_argument,
)
from msgctl.cli.state import AppState, get_state
from msgctl.core.filtering import load_policy
from msgctl.core.ledger import Ledger
from msgctl.core.replay import (
    DEFAULT_CONCURRENCY,
    ReplayOptions,
    ReplayPlan,
    ReplayReport,
    ReplayTarget,
    prepare,
    replay,
)
from msgctl.core.replay_ids import parse_dedup_rule, parse_group_rule
from msgctl.core.state_paths import default_ledger
from msgctl.core.tail import parse_duration
from msgctl.errors import ExitCode, MsgctlError, UsageError
from msgctl.render.progress import Progress


def replay_command(
    ctx: typer.Context,
    source: Annotated[
        str, typer.Argument(help="An NDJSON file of envelopes (tail, dlq export), - for stdin, or a channel.")
    ],
    to: Annotated[str, typer.Option("--to", help="The queue or topic to send to.")],
    dedup_id: Annotated[
        str | None,
        typer.Option(
            help="keep (the envelope's), message-id (from the original id), content (a hash of body, "
            "attributes and group) or template:TEMPLATE with {id}, {attr.NAME}, {body.PATH}. "
            "Default: message-id, so every captured message is sent (also ones with identical bodies); "
            "for an envelope without an id, keep where present, else content.",
        ),
    ] = None,
    group_id: Annotated[
        str | None,
        typer.Option(help="keep (the envelope's, the default) or template:TEMPLATE. FIFO targets need one."),
    ] = None,
    ledger: Annotated[
        Path | None,
        typer.Option(
            help="The ledger of what was replayed (default: under the state directory, per target)."
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Send also what the ledger says was replayed (and, reading an SQS channel, a queue whose "
            "maxReceiveCount is 2 or less).",
        ),
    ] = False,
    rate: Annotated[float | None, typer.Option(help="At most this many messages a second.", min=0.1)] = None,
    concurrency: Annotated[
        int,
        typer.Option(
            help="Workers. A group's messages stay with one worker, in order; messages without a group go "
            "through one worker unless the target is unordered (SQS and SNS standard).",
            min=1,
            max=32,
        ),
    ] = DEFAULT_CONCURRENCY,
    filter_policy: FilterOption = None,
    filter_scope: FilterScopeOption = "attributes",
    max_messages: Annotated[
        int | None,
        typer.Option("--max", help="At most N messages (reading a topic: stop after N arrived).", min=1),
    ] = None,
    duration: Annotated[
        str | None,
        typer.Option(help="Reading a topic (it never ends by itself): stop after this long: 30s, 5m, 1h."),
    ] = None,
    skip_invalid: Annotated[
        bool, typer.Option("--skip-invalid", help="Skip (and report) malformed lines instead of stopping.")
    ] = False,
    dry_run: DryRunOption = False,
    output: OutputOption = None,
) -> None:
    """Re-send captured messages idempotently into a queue or topic (SQS, SNS, ActiveMQ).

    Every line is checked and given its deduplication id before the first send: a malformed line stops
    the replay (exit 2) naming it, and nothing is sent. A ledger per target records each id sent, so
    replaying the same input again sends nothing, also after SQS's 5-minute deduplication window; after a
    crash or Ctrl-C, a rerun sends only what is missing. On ActiveMQ the id travels as the property
    msgctl_dedup_id and the ledger is the only guard. A FIFO target drops a --force resend within 5 minutes
    of the first send: it is named (deduplicated_by_target) where the target tells, warned of before sending
    where it may not. Exit 0 when everything was sent, 3 when some failed or were dropped.

    Example:

        msgctl replay captured.ndjson --to sqs:orders.fifo --dedup-id message-id
    """
    state = get_state(ctx)
    renderer = state.use_output(output)
    if source == "-" and filter_policy == "-":
        raise UsageError("the input and --filter cannot both come from stdin")
    window = _topic_window(source, max_messages, duration)
    target_channel = parse_channel(to)
    policy = load_policy(read_argument(filter_policy), parse_scope(filter_scope)) if filter_policy else None
    dedup_rule, group_rule = parse_dedup_rule(dedup_id), parse_group_rule(group_id)
    target, target_key = _target(state, target_channel)
    plan = ReplayPlan(dedup_rule, group_rule, target.fifo, policy, max_messages, skip_invalid, target.check)
    report = ReplayReport()
    messages = prepare(_lines(state, source, force, window), plan, report)
    for line, reason in report.skipped_invalid:
        renderer.warn(f"line {line} skipped: {reason}")
    if report.partial_input is not None:
        renderer.warn(f"partial input: {report.partial_input}")
    options = ReplayOptions(force=force, concurrency=concurrency, rate=rate, dry_run=dry_run)
    if dry_run:
        known = _open_ledger(ledger, target_key, must_exist=True)
        try:
            replay(messages, target, known, options, report, warn=renderer.warn)
        finally:
            if known is not None:
                known.close()
        renderer.records([m.to_json() for m in report.would_send], ["line", "id", "dedup_id", "group_id"])
        renderer.info(_summary(report, target_channel, dry_run=True))
        return
    book = _open_ledger(ledger, target_key, must_exist=False)
    assert book is not None, "created when missing"
    previous = signal.signal(signal.SIGTERM, _interrupt)
    summary = {"target": str(target_channel), "ledger": str(book.path)}
    try:
        with Progress(renderer, f"replay -> {target_channel}", len(messages)) as progress:
            replay(messages, target, book, options, report, progress.advance, renderer.warn)
    except (KeyboardInterrupt, MsgctlError) as exc:
        # What went out so far, with its possible duplicates: a rerun may not be able to name them again.
        renderer.document({**summary, **report.to_json(), "interrupted": True})
        renderer.warn(f"stopped: run the same replay again to send the rest (ledger {book.path})")
        if isinstance(exc, KeyboardInterrupt):
            raise typer.Exit(ExitCode.INTERRUPTED) from None
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
        book.close()
    renderer.document({**summary, **report.to_json()})
    renderer.info(_summary(report, target_channel, dry_run=False))
    if report.failed or report.partial_input is not None or report.deduplicated_by_target:
        raise typer.Exit(ExitCode.PARTIAL)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@dataclass(frozen=True)
class TopicWindow:
    """How much of a live topic to read: it has no end of its own."""

    max: int | None
    duration: float | None


def _topic_window(source: str, max_messages: int | None, duration: str | None) -> TopicWindow:
    """A live topic has no end: reading one needs --max or --duration (also for a dry run)."""
    reading = _source_channel(source)
    topic = reading is not None and reading.kind == "topic"
    if topic and max_messages is None and duration is None:
        raise UsageError(
            f"{reading} is a live topic, read for as long as msgctl runs: pass --max or --duration"
        )
    if duration is not None and not topic:
        raise UsageError("--duration is for reading a topic")
    return TopicWindow(max_messages, parse_duration(duration).total_seconds() if duration else None)


def _source_channel(source: str) -> Channel | None:
    """The channel a replay reads, or None for stdin or a file."""
    if source == "-" or Path(source).expanduser().is_file():
        return None
    if ":" not in source:
        raise UsageError(f"{source}: no such file (and not a channel address)")
    return parse_channel(source)


def _lines(
    state: AppState, source: str, force: bool, window: TopicWindow
) -> Iterator[tuple[int, str | bytes]]:
    channel = _source_channel(source)
    if channel is not None:
        yield from _channel_lines(state, channel, force, window)
    elif source == "-":
        yield from enumerate(sys.stdin.buffer, start=1)
    else:
        with Path(source).expanduser().open("rb") as handle:
            yield from enumerate(handle, start=1)


def _channel_lines(
    state: AppState, channel: Channel, force: bool, window: TopicWindow
) -> Iterator[tuple[int, str | bytes]]:
    """A channel read as tail reads it: a queue's snapshot, released at the end; a topic for the window."""
    from msgctl.core.tail import TailOptions, TailReport, tail

    topic = channel.kind == "topic"
    options = TailOptions(
        force=force, max=window.max if topic else None, duration=window.duration if topic else None
    )
    tail_source = state.backends.tail_source(channel, options)
    report = TailReport()
    try:
        envelopes = list(tail(tail_source, options, report))
    finally:
        tail_source.close(report)
    for note in report.notes:
        state.renderer.warn(note)
    for number, envelope in enumerate(envelopes, start=1):
        yield number, envelope.dumps()
    marker = report.partial_marker()
    if marker is not None:  # read like a cut export: the replay says it is partial and exits 3
        yield len(envelopes) + 1, json.dumps(marker)


def _target(state: AppState, channel: Channel) -> tuple[ReplayTarget, str]:
    """The sender and the key its ledger is filed under (the queue URL, topic ARN or broker destination)."""
    if channel.service == "amq":
        from msgctl.backends.activemq import ActiveMqBackend
        from msgctl.backends.activemq_target import AmqTarget

        broker = state.backends.for_channel(channel)
        assert isinstance(broker, ActiveMqBackend)
        return AmqTarget(broker, channel), f"amq-{broker.target.label}-{channel.kind}-{channel.name}"
    from msgctl.backends.aws_targets import SnsTarget, SqsTarget

    if channel.service == "sns":
        from msgctl.backends.sns import SnsBackend

        sns = state.backends.for_service("sns")
        assert isinstance(sns, SnsBackend)
        arn = sns.topic_arn(channel)
        return SnsTarget(state.backends.aws, arn, channel), arn
    from msgctl.backends.sqs import SqsBackend

    sqs = state.backends.for_service("sqs")
    assert isinstance(sqs, SqsBackend)
    queue = SqsTarget(sqs, channel)
    return queue, queue.url


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


def _summary(report: ReplayReport, target: Channel, dry_run: bool) -> str:
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
