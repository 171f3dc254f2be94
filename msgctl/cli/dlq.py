"""dlq ls/redrive/status/cancel/export/purge: dead letters listed, inspected and moved back safely."""

from __future__ import annotations

import signal
import time
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer

from msgctl.address import Channel, endpoint_name, parse_channel
from msgctl.backends.sqs import SqsBackend
from msgctl.cli.confirm import require_confirmation
from msgctl.cli.options import (
    DryRunOption,
    ExportOutputOption,
    FilterOption,
    FilterScopeOption,
    OutputOption,
    YesOption,
    parse_scope,
    read_argument,
)
from msgctl.cli.state import AppState, get_state
from msgctl.core.journal import UNFINISHED, Journal
from msgctl.core.outbound import DEDUP_MARGIN_S, DEDUP_WINDOW_S
from msgctl.core.redrive import (
    DEFAULT_HOLD_S,
    RedriveOptions,
    RedriveReport,
    RedriveTarget,
    Selection,
    redrive,
    resume,
)
from msgctl.core.state_paths import default_copy_journal, default_journal
from msgctl.core.tail import iso
from msgctl.errors import ExitCode, MsgctlError, NotFoundError, UsageError
from msgctl.filter.lint import parse_policy
from msgctl.render.progress import Progress

if TYPE_CHECKING:
    from msgctl.backends.sqs_redrive import NativeMove

app = typer.Typer(
    help="Dead-letter queues: list them, look inside, move their messages back.", no_args_is_help=True
)
LS_COLUMNS = ("channel", "depth", "oldest_age_s", "sources")
TERMINAL_TASK_STATES = ("COMPLETED", "CANCELLED", "FAILED")
# PurgeQueue deletes the visible, the in-flight and the delayed messages alike.
PURGED_COUNTS = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)


@app.command("ls")
def ls_command(
    ctx: typer.Context,
    prefix: Annotated[str | None, typer.Option(help="Only DLQs whose name starts with this.")] = None,
    output: OutputOption = None,
) -> None:
    """Every DLQ: SQS queues some RedrivePolicy names (and ActiveMQ's DLQ.* and ActiveMQ.DLQ when a broker
    is set), with depth, oldest message age where known, and source queues."""
    from msgctl.backends.sqs_redrive import dead_letter_queues

    state = get_state(ctx)
    renderer = state.use_output(output)
    rows = []
    sqs = _sqs(state)
    for dlq, sources in sorted(dead_letter_queues(sqs, prefix).items()):
        try:
            stats = sqs.stats(parse_channel(dlq))
        except NotFoundError:  # a RedrivePolicy naming a deleted queue: its dead letters go nowhere
            renderer.warn(f"{dlq} does not exist, yet {', '.join(sorted(sources))} dead-letter to it")
            continue
        rows.append(
            {
                "channel": dlq,
                "depth": stats.summary.depth,
                "oldest_age_s": stats.oldest_age_s,
                "sources": sorted(sources),
            }
        )
    if state.backends.broker_configured:
        amq = state.backends.for_service("amq")
        summaries = list(amq.list_channels(prefix))
        queues = {s.channel: s for s in summaries if s.kind == "queue"}
        for summary in summaries:
            if summary.kind == "queue" and summary.dlq:
                queues.setdefault(summary.dlq, summary)
        for channel in sorted(c for c in queues if c.split("/", 1)[1].startswith(("DLQ.", "ActiveMQ.DLQ"))):
            sources = sorted(s.channel for s in summaries if s.dlq == channel)
            rows.append(
                {
                    "channel": channel,
                    "depth": queues[channel].depth,
                    "oldest_age_s": amq.stats(parse_channel(channel)).oldest_age_s,
                    "sources": sources,
                }
            )
    renderer.records(rows, LS_COLUMNS)


@app.command("redrive")
def redrive_command(
    ctx: typer.Context,
    dlq: Annotated[str, typer.Argument(help="The dead-letter queue.")],
    to: Annotated[
        str | None, typer.Option("--to", help="Where to move (default: the queue whose DLQ it is).")
    ] = None,
    engine: Annotated[str, typer.Option(help="auto, native (SQS move task) or client.")] = "auto",
    max_messages: Annotated[int | None, typer.Option("--max", help="Move at most N messages.", min=1)] = None,
    filter_policy: FilterOption = None,
    filter_scope: FilterScopeOption = "attributes",
    ids: Annotated[str | None, typer.Option(help="Only these message ids, comma-separated.")] = None,
    copy: Annotated[bool, typer.Option("--copy", help="Send copies; leave the DLQ as it is.")] = False,
    rate: Annotated[float | None, typer.Option(help="At most this many messages a second.", min=0.1)] = None,
    concurrency: Annotated[int, typer.Option(help="Workers (FIFO group order is kept).", min=1, max=32)] = 1,
    dry_run: DryRunOption = False,
    yes: YesOption = False,
    journal: Annotated[
        Path | None, typer.Option(help="The journal file (default: under the state directory).")
    ] = None,
    resume_flag: Annotated[
        bool, typer.Option("--resume", help="Finish an interrupted redrive from its journal.")
    ] = False,
    hold: Annotated[
        int,
        typer.Option(
            help="Seconds each extension of a kept message's hold lasts (a receive itself hides its "
            "messages 10 s; the run extends what it keeps).",
            min=10,
        ),
    ] = DEFAULT_HOLD_S,
    output: OutputOption = None,
) -> None:
    """Move dead letters back: natively (SQS move task) or client-side, selectively, resumably.

    Client-side, a message is deleted from the DLQ only after the target confirmed it, and a journal records
    every step: after a crash or Ctrl-C, --resume deletes what was sent without sending it again and names
    what may have been sent twice. Each message moves at most once a run: what comes back to the DLQ while
    the run goes on (a target that dead-letters it again) is counted and left there. Messages held by a
    receive whose reply was lost are waited for (a receive holds them briefly; the run extends what it
    keeps). A FIFO target drops a message sent to it again within 5 minutes: one the journal saw it confirm
    that recently is not sent again (sent_recently), one it answers with the earlier id is named as
    deduplicated_by_target; both stay in the DLQ. Exit 0 when every selected message moved, 3 when some
    failed, were dropped, held back or are still held.

    Example:

        msgctl dlq redrive sqs:orders-dlq --filter '{"kind": ["order"]}' --max 100 --yes
    """
    state = get_state(ctx)
    renderer = state.use_output(output)
    channel = parse_channel(dlq)
    if engine not in ("auto", "native", "client"):
        raise UsageError("--engine must be auto, native or client")
    selection = Selection(
        max=max_messages,
        filter=parse_policy(read_argument(filter_policy), parse_scope(filter_scope))
        if filter_policy
        else None,
        ids=frozenset(i.strip() for i in ids.split(",") if i.strip()) if ids else None,
    )
    if selection.ids is not None and not selection.ids:
        raise UsageError("--ids lists no message id")
    previous = signal.signal(signal.SIGTERM, _interrupt)  # SIGTERM stops like Ctrl-C: held ones are released
    try:
        if channel.service == "amq":
            _activemq(state, channel, to, selection, copy, dry_run, yes, journal)
            return
        if channel.service != "sqs":
            raise UsageError(f"{channel} is not a queue")
        sqs = _sqs(state)
        selecting = max_messages is not None or filter_policy is not None or ids is not None or copy
        target = _destination(state, sqs, channel, to)
        if channel.fifo and (selection.filter is not None or selection.ids is not None):
            renderer.warn(
                "FIFO: a group's messages behind one that is not selected stay out of reach until the end "
                "(a FIFO queue hands out each group in order): run again for them"
            )
        if engine == "native" and selecting:
            raise UsageError(
                "the native engine cannot select (--max, --filter, --ids) or --copy: use --engine client"
            )
        depth = int(sqs.queue_attributes(channel).get("ApproximateNumberOfMessages", 0))
        if not dry_run:
            require_confirmation(
                renderer, yes, f"move up to {depth} messages from {channel} to {target}?", "redrive"
            )
        if engine != "client" and not selecting and not dry_run and target.service == "sqs":
            from msgctl.backends.sqs_redrive import NativeMove

            native = NativeMove(sqs, channel)
            if engine == "native" or native.available():
                _native(state, native, target, rate, depth)
                return
        report = _client(
            state,
            sqs,
            channel,
            target,
            selection,
            copy,
            rate,
            concurrency,
            dry_run,
            journal,
            resume_flag,
            depth,
            hold,
        )
        renderer.document(
            {"dlq": str(channel), "target": str(target), "engine": "client", **report.to_json()}
            if not dry_run
            else {
                "dlq": str(channel),
                "target": str(target),
                "would_move": report.would_move,
                "skipped": report.skipped,
            }
        )
        if report.failed or report.deduplicated_by_target or report.sent_recently or report.still_held:
            raise typer.Exit(ExitCode.PARTIAL)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _client(
    state: AppState,
    sqs: SqsBackend,
    channel: Channel,
    target: Channel,
    selection: Selection,
    copy: bool,
    rate: float | None,
    concurrency: int,
    dry_run: bool,
    journal_path: Path | None,
    resuming: bool,
    depth: int | None,
    hold: int,
) -> RedriveReport:
    from msgctl.backends.sqs_redrive import SqsDeadLetters

    renderer = state.renderer
    source = SqsDeadLetters(sqs, channel)
    sink = _target(state, target)
    path = journal_path or default_journal(channel)
    mode = "copy" if copy else "move"
    recent_sends = 0
    if not dry_run and path.exists():
        wanted = {"dlq": str(channel), "target": str(target), "mode": mode}
        recent_sends = _check_journal(path, resuming, wanted)
    elif resuming:
        raise UsageError(f"nothing to resume: {path} does not exist")
    if recent_sends and sink.dedups:
        renderer.warn(
            f"{recent_sends} messages went from {channel} to {target} less than 5 minutes ago: the target "
            "accepts and drops any of them sent again (the same deduplication id): they are not sent again, "
            "but listed as sent_recently and left in the DLQ (exit 3)"
        )
    journal = Journal(path) if not dry_run else None
    report = RedriveReport()
    options = RedriveOptions(
        selection=selection,
        copy=copy,
        dry_run=dry_run,
        rate=rate,
        concurrency=concurrency,
        hold_s=hold,
    )
    try:
        if journal is not None:
            journal.set_meta(
                {"dlq": str(channel), "target": str(target), "mode": mode, "started": str(time.time())}
            )
            if resuming:
                resume(source, journal, report, copy)
        with Progress(renderer, f"{channel} -> {target}", depth) as progress:
            redrive(source, sink, journal, options, report, progress.advance, renderer.warn)
    except KeyboardInterrupt:
        renderer.warn(f"interrupted; the journal {path} is kept: --resume finishes the redrive")
        raise typer.Exit(ExitCode.INTERRUPTED) from None
    finally:
        if journal is not None:
            journal.close()
    if report.returned:
        renderer.warn(
            f"{report.returned} returned to the DLQ while the redrive ran (dead-lettered again, or newly "
            f"arrived): left there, as a redrive moves each message at most once"
        )
    if report.not_received:
        renderer.warn(
            f"stopped receiving once it had as many messages as {channel} held at the start (and a margin): "
            f"{report.not_received} messages arrived since are left there (not_received; run again for them)"
        )
    if report.still_held and not dry_run:
        renderer.warn(
            f"{report.still_held} messages of {channel} are still held (by another consumer, or by a receive "
            f"whose reply was lost) after waiting {report.waited_s:.0f} s: run again with --resume once "
            "they are visible"
        )
    if report.possible_duplicates:
        renderer.warn(
            f"{len(report.possible_duplicates)} messages may have been sent twice (listed in the output)"
        )
    if report.deduplicated_by_target:
        renderer.warn(
            f"{len(report.deduplicated_by_target)} messages were dropped by {target}: a copy with the same "
            "deduplication id went less than 5 minutes ago (deduplicated_by_target; they stay in the DLQ)"
        )
    if report.sent_recently:
        when = datetime.fromtimestamp(report.movable_at, UTC).strftime("%H:%M:%S UTC")
        renderer.warn(
            f"{len(report.sent_recently)} messages went to {target} less than 5 minutes ago, so it would "
            f"drop them: not sent again, they stay in the DLQ (sent_recently); they can be moved after {when}"
        )
    renderer.info(
        f"moved {report.moved}, skipped {report.skipped}, failed {len(report.failed)}; journal {path}"
        if not dry_run
        else f"dry run: {len(report.would_move)} messages would move; nothing changed"
    )
    return report


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _check_journal(path: Path, resuming: bool, wanted: dict[str, str]) -> int:
    """An unfinished journal is only resumed, and only by the same redrive; a finished one is replaced,
    except for what it sent to the same target within the deduplication window (returns how many are
    kept), so a FIFO target's dropping a second copy can be told."""
    journal = Journal(path)
    try:
        unfinished = any(journal.counts().get(state) for state in UNFINISHED)
        recorded = {key: journal.meta(key) for key in wanted}
        same_pair = all(recorded[key] == wanted[key] for key in ("dlq", "target"))
        if not resuming and not unfinished and same_pair:
            return journal.keep_recent_sends(time.time() - DEDUP_WINDOW_S - DEDUP_MARGIN_S)
    finally:
        journal.close()
    if resuming:
        differing = [f"{k} was {recorded[k]}" for k, v in wanted.items() if recorded[k] not in (None, v)]
        if differing:
            raise UsageError(f"{path} records another redrive ({', '.join(differing)}): resume it as it was")
        return 0
    if unfinished:
        raise UsageError(
            f"{path} holds an unfinished redrive: --resume finishes it (starting afresh could send again "
            "what it already sent)"
        )
    path.unlink()
    return 0


def _activemq(
    state: AppState,
    channel: Channel,
    to: str | None,
    selection: Selection,
    copy: bool,
    dry_run: bool,
    yes: bool,
    journal_path: Path | None,
) -> None:
    from msgctl.backends.activemq import BROWSE_CAP, ActiveMqBackend
    from msgctl.backends.activemq_redrive import ActiveMqRedrive

    renderer = state.renderer
    target = parse_channel(to) if to else None
    if target is not None and target.service != "amq":
        raise MsgctlError("redrive from ActiveMQ to SQS/SNS is not implemented yet")
    backend = state.backends.for_channel(channel)
    assert isinstance(backend, ActiveMqBackend)
    depth = backend.stats(channel).summary.depth
    where = str(target) if target else "each message's original destination"
    if not dry_run:
        question = f"move up to {depth} messages from {channel} to {where}?"
        require_confirmation(renderer, yes, question, "redrive")
    journal = _copy_journal(journal_path, channel, where) if copy and not dry_run else None
    mover = ActiveMqRedrive(backend, channel, target, journal)
    try:
        with Progress(renderer, f"{channel} -> {where}", depth) as progress:
            # Without a selection, what the DLQ held at the start is the job: no idle wait after the last one.
            limit = selection.max
            if limit is None and selection.filter is None and selection.ids is None and not copy:
                limit = depth
            report = mover.run(selection.filter, selection.ids, limit, copy, dry_run, progress.advance)
    except KeyboardInterrupt:
        renderer.warn("interrupted: the transaction under way was rolled back; what was committed has moved")
        raise typer.Exit(ExitCode.INTERRUPTED) from None
    finally:
        if journal is not None:
            journal.close()
    limit_reached = selection.max is not None and report.moved >= selection.max
    not_reached = _not_reached(report.browsed, depth, limit_reached, BROWSE_CAP)
    if not_reached:
        report.notes.append(
            f"{channel} holds {depth} messages but the broker browses only the first {BROWSE_CAP} "
            f"(maxBrowsePageSize), so {not_reached} were not copied; running again will not reach them "
            "(the journal skips what was copied): raise maxBrowsePageSize for this queue on the broker, "
            "or move them with dlq redrive without --copy"
        )
    selecting = selection.filter is not None or selection.ids is not None
    if selecting and not copy and (depth or 0) > BROWSE_CAP:
        report.notes.append(
            f"{channel} held {depth} messages: the broker applies a selector to the ~{BROWSE_CAP} it has "
            "paged in, so matching messages further back may remain: run again for them"
        )
    for note in report.notes:
        renderer.warn(note)
    if dry_run:
        renderer.document({"dlq": str(channel), "target": where, "would_move": report.would_move})
        return
    extra = {"not_reached": not_reached, "journal": str(journal.path)} if journal is not None else {}
    renderer.document(
        {"dlq": str(channel), "target": where, "engine": "stomp-transactions", **report.to_json(), **extra}
    )
    if report.failed or not_reached:
        raise typer.Exit(ExitCode.PARTIAL)


def _copy_journal(path: Path | None, dlq: Channel, target: str) -> Journal:
    """The journal of what was copied from ``dlq`` to ``target``: kept across runs, so none repeats."""
    path = path or default_copy_journal(dlq, target)
    journal = Journal(path)
    wanted = {"dlq": str(dlq), "target": target, "mode": "copy"}
    recorded = {key: journal.meta(key) for key in wanted}
    if any(value is not None and value != wanted[key] for key, value in recorded.items()):
        journal.close()
        raise UsageError(f"{path} records another redrive ({recorded}): pass another --journal")
    journal.set_meta(wanted)
    return journal


def _not_reached(browsed: int | None, depth: int | None, limit_reached: bool, cap: int) -> int:
    """How many messages a copy (a browse) could not look at: those behind the broker's browse page (none
    when it copied all --max asked for)."""
    if browsed is None or browsed < cap or depth is None or limit_reached:
        return 0
    return max(0, depth - browsed)


def _native(
    state: AppState, native: NativeMove, target: Channel, rate: float | None, depth: int | None
) -> None:
    renderer = state.renderer
    destination = _queue_arn(state, target)
    handle = native.start(destination, rate)
    try:
        with Progress(renderer, f"{native.dlq} -> {target} (native)", depth) as progress:
            while True:
                tasks = native.tasks()
                task = next((t for t in tasks if t.get("TaskHandle") == handle), tasks[0] if tasks else {})
                progress.update(
                    int(task.get("ApproximateNumberOfMessagesMoved", 0)),
                    task.get("ApproximateNumberOfMessagesToMove"),
                )
                if task.get("Status") in TERMINAL_TASK_STATES:
                    break
                time.sleep(1)
    except KeyboardInterrupt:
        if renderer.confirm("cancel the move task?"):
            moved = native.cancel(handle)
            renderer.warn(f"cancelled after {moved} messages")
        else:
            renderer.warn(
                f"the move task goes on: msgctl dlq status {native.dlq}; msgctl dlq cancel {native.dlq}"
            )
        raise typer.Exit(ExitCode.INTERRUPTED) from None
    renderer.document(
        {
            "dlq": str(native.dlq),
            "target": str(target),
            "engine": "native",
            "status": task.get("Status"),
            "moved": task.get("ApproximateNumberOfMessagesMoved"),
            "failure": task.get("FailureReason"),
        }
    )
    if task.get("Status") != "COMPLETED":
        raise typer.Exit(ExitCode.FAILED)


@app.command("status")
def status_command(
    ctx: typer.Context, dlq: Annotated[str, typer.Argument(help="The SQS DLQ.")], output: OutputOption = None
) -> None:
    """The DLQ's native move tasks (SQS)."""
    from msgctl.backends.sqs_redrive import NativeMove

    state = get_state(ctx)
    renderer = state.use_output(output)
    tasks = NativeMove(_sqs(state), _sqs_channel(dlq)).tasks()
    renderer.records(
        [
            {
                "status": t.get("Status"),
                "moved": t.get("ApproximateNumberOfMessagesMoved"),
                "to_move": t.get("ApproximateNumberOfMessagesToMove"),
                "destination": endpoint_name("sqs", t["DestinationArn"]) if t.get("DestinationArn") else None,
                "started": iso(t.get("StartedTimestamp")),
                "failure": t.get("FailureReason"),
            }
            for t in tasks
        ],
        ("status", "moved", "to_move", "destination", "started", "failure"),
    )


@app.command("cancel")
def cancel_command(
    ctx: typer.Context, dlq: Annotated[str, typer.Argument(help="The SQS DLQ.")], output: OutputOption = None
) -> None:
    """Cancel the DLQ's running native move task."""
    from msgctl.backends.sqs_redrive import NativeMove

    state = get_state(ctx)
    renderer = state.use_output(output)
    native = NativeMove(_sqs(state), _sqs_channel(dlq))
    running = [t for t in native.tasks() if t.get("Status") == "RUNNING"]
    if not running:
        raise MsgctlError(f"{dlq} has no running move task")
    moved = native.cancel(running[0]["TaskHandle"])
    if renderer.output != "table":
        renderer.document({"dlq": str(native.dlq), "cancelled": True, "moved": moved})
    renderer.info(f"cancelled after {moved} messages")


@app.command("export")
def export_command(
    ctx: typer.Context,
    dlq: Annotated[str, typer.Argument(help="The DLQ.")],
    max_messages: Annotated[int | None, typer.Option("--max", help="At most N messages.", min=1)] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Also when the DLQ dead-letters after 2 receives, or msgctl's earlier receives left its "
            "messages one receive from that limit.",
        ),
    ] = False,
    output: ExportOutputOption = None,
) -> None:
    """The DLQ's messages as NDJSON envelopes (or one JSON array), without consuming them (the tail snapshot
    rules apply).

    Where a read that consumes nothing cannot see every message (an SQS FIFO queue shows one receive batch
    of each message group; an ActiveMQ browse shows at most maxBrowsePageSize), the cut is named on stderr
    with the way to read everything, the output ends with a {"partial": true, ...} record, and the exit is 3.
    """
    from msgctl.core.tail import TailOptions, TailReport, tail
    from msgctl.render.messages import MessageWriter

    state = get_state(ctx)
    state.output_may_be_cut = True
    channel = parse_channel(dlq)
    options = TailOptions(max=max_messages, force=force)
    source = state.backends.tail_source(channel, options)
    report = TailReport()
    writer = MessageWriter(state.renderer, "json" if output == "json" else "ndjson")
    try:
        for envelope in tail(source, options, report):
            writer.write(envelope)
    finally:
        source.close(report)
        writer.close(report.partial_marker())
    state.renderer.info(f"exported {report.shown} messages from {channel}")
    for note in report.notes:
        state.renderer.warn(note)
    if report.partial is not None:
        state.renderer.warn(f"partial: {report.partial}")
        raise typer.Exit(ExitCode.PARTIAL)


@app.command("purge")
def purge_command(
    ctx: typer.Context,
    dlq: Annotated[str, typer.Argument(help="The SQS DLQ.")],
    yes: YesOption = False,
    output: OutputOption = None,
) -> None:
    """Delete every message of the DLQ (SQS PurgeQueue). Only a queue some RedrivePolicy names is purged.
    Asks for confirmation, with the number of messages; without a terminal it needs --yes."""
    from msgctl.backends.aws import aws_errors
    from msgctl.backends.sqs_redrive import source_queues

    state = get_state(ctx)
    renderer = state.use_output(output)
    channel = _sqs_channel(dlq)
    sqs = _sqs(state)
    if not source_queues(sqs, channel):
        raise UsageError(
            f"{channel} is not a DLQ (no queue's RedrivePolicy names it): purge only empties DLQs"
        )
    attributes = sqs.queue_attributes(channel)
    count = sum(int(attributes.get(a, 0)) for a in PURGED_COUNTS)
    require_confirmation(
        state.renderer, yes, f"delete all {count} messages of {channel}?", f"purging {channel}"
    )
    with aws_errors(f"cannot purge {channel}"):
        sqs.client_for(channel).purge_queue(QueueUrl=sqs.queue_url(channel))
    if renderer.output != "table":
        renderer.document({"dlq": str(channel), "purged": True})
    renderer.info(f"purged {channel}")


def _sqs(state: AppState) -> SqsBackend:
    backend = state.backends.for_service("sqs")
    assert isinstance(backend, SqsBackend)
    return backend


def _sqs_channel(text: str) -> Channel:
    channel = parse_channel(text)
    if channel.service != "sqs":
        raise UsageError(f"{channel}: this command works on SQS queues")
    return channel


def _destination(state: AppState, sqs: SqsBackend, dlq: Channel, to: str | None) -> Channel:
    if to:
        target = parse_channel(to)
        if target.service == "amq":
            raise MsgctlError("redrive from SQS to ActiveMQ is not implemented yet")
        return target
    from msgctl.backends.sqs_redrive import source_queues

    sources = source_queues(sqs, dlq)
    if not sources:
        raise UsageError(f"no queue names {dlq} as its DLQ: pass --to")
    if len(sources) > 1:
        chosen = state.renderer.choose(f"{dlq} is the DLQ of several queues: move to which?", sources)
        if chosen is None:
            raise UsageError(f"{dlq} is the DLQ of {', '.join(sources)}: pass --to to choose one")
        return parse_channel(chosen)
    return parse_channel(sources[0])


def _target(state: AppState, target: Channel) -> RedriveTarget:
    from msgctl.backends.aws_targets import SnsTarget, SqsTarget
    from msgctl.backends.sns import SnsBackend

    if target.service == "sns":
        sns = state.backends.for_service("sns")
        assert isinstance(sns, SnsBackend)
        return SnsTarget(state.backends.aws, sns.topic_arn(target), target)
    return SqsTarget(_sqs(state), target)


def _queue_arn(state: AppState, channel: Channel) -> str:
    sqs = _sqs(state)
    return str(sqs.queue_attributes(channel)["QueueArn"])
