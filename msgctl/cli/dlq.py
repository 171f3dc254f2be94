"""dlq ls/redrive/status/cancel/export/purge: dead letters listed, inspected and moved back safely."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import click
import typer

from msgctl.address import parse_channel
from msgctl.cli.confirm import confirmer
from msgctl.cli.options import (
    DryRunOption,
    ExportOutputOption,
    FilterOption,
    FilterScopeOption,
    OutputOption,
    PayloadsOption,
    TransformArgOption,
    TransformBodyOption,
    TransformOption,
    YesOption,
    parse_scope,
    read_argument,
)
from msgctl.cli.state import get_state
from msgctl.core.redrive import DEFAULT_HOLD_S
from msgctl.core.tail import iso
from msgctl.core.transform import diff, parse_args
from msgctl.errors import ExitCode, Interrupted, NativeMoveInterrupted
from msgctl.render.messages import MessageWriter
from msgctl.render.progress import ProgressBar

if TYPE_CHECKING:
    from msgctl.api.redrive import RedriveResult
    from msgctl.render import Renderer

app = typer.Typer(
    help="Dead-letter queues: list them, look inside, move their messages back.", no_args_is_help=True
)
journal_app = typer.Typer(help="Redrive journals: keep them small.", no_args_is_help=True)
app.add_typer(journal_app, name="journal")
LS_COLUMNS = ("channel", "depth", "oldest_age_s", "sources")
SqsDlqArgument = Annotated[str, typer.Argument(help="The SQS DLQ.")]


@app.command("ls")
def ls_command(
    ctx: typer.Context,
    prefix: Annotated[str | None, typer.Option(help="Only DLQs whose name starts with this.")] = None,
    output: OutputOption = None,
) -> None:
    """Every DLQ: SQS queues some RedrivePolicy names (and ActiveMQ's DLQ.* and ActiveMQ.DLQ when a broker
    is set), with depth, oldest message age where known, and source queues."""
    state = get_state(ctx)
    renderer = state.use_output(output)
    renderer.records([dlq.to_json() for dlq in state.client.dlqs(prefix)], LS_COLUMNS)


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
        Path | None,
        typer.Option(
            help="The journal file (default: under the state directory, one per DLQ). One redrive at a time "
            "uses a journal: several on one DLQ (processes or machines) each need their own."
        ),
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
    transform_body: TransformBodyOption = None,
    transform: TransformOption = None,
    transform_arg: TransformArgOption = None,
    payloads: PayloadsOption = None,
    output: OutputOption = None,
) -> None:
    """Move dead letters back: natively (SQS move task) or client-side, selectively, resumably, repaired.

    Client-side, a message is deleted from the DLQ only after the target confirmed it, and a journal records
    every step: after a crash or Ctrl-C, --resume deletes what was sent without sending it again and names
    what may have been sent twice. Each message moves at most once a run: what comes back to the DLQ while
    the run goes on (a target that dead-letters it again) is counted and left there. Messages held by a
    receive whose reply was lost are waited for (a receive holds them briefly; the run extends what it
    keeps). A FIFO target drops a message sent to it again within 5 minutes: one the journal saw it confirm
    that recently is not sent again (sent_recently), one it answers with the earlier id is named as
    deduplicated_by_target; both stay in the DLQ. Exit 0 when every selected message moved, 3 when some
    failed, were dropped, held back or are still held.

    A jq program (--transform-body, --transform) repairs each message on its way; with --dry-run it prints
    a diff of each message before and after, and moves nothing. The journal records the program, so
    --resume runs the same one (another is refused).

    Examples:

        msgctl dlq redrive sqs:orders-dlq --filter '{"kind": ["order"]}' --max 100 --yes

        msgctl dlq redrive sqs:orders-dlq --dry-run --transform-body '.new = .old | del(.old)'
    """
    state = get_state(ctx)
    renderer = state.use_output(output)
    policy = read_argument(filter_policy) if filter_policy else None
    try:
        with ProgressBar(renderer) as progress:
            result = state.client.redrive(
                dlq,
                to=to,
                engine=engine,
                filter=policy,
                filter_scope=parse_scope(filter_scope),
                max=max_messages,
                ids=[i.strip() for i in ids.split(",")] if ids else None,
                copy=copy,
                rate=rate,
                concurrency=concurrency,
                journal=journal,
                resume=resume_flag,
                dry_run=dry_run,
                hold=hold,
                on_progress=progress,
                confirm=confirmer(renderer, yes, "redrive"),
                choose=renderer.choose,
                transform_body=read_argument(transform_body) if transform_body is not None else None,
                transform=read_argument(transform) if transform is not None else None,
                transform_args=parse_args(transform_arg or []),
                payloads=payloads,
            )
    except NativeMoveInterrupted as stopped:
        if renderer.confirm("cancel the move task?"):
            moved = state.client.cancel_move_task(stopped.dlq, stopped.handle)
            renderer.warn(f"cancelled after {moved} messages")
        else:
            renderer.warn(stopped.note)
        raise typer.Exit(ExitCode.INTERRUPTED) from None
    except Interrupted as stopped:
        renderer.warn(stopped.note)
        raise typer.Exit(ExitCode.INTERRUPTED) from None
    _show_redrive(renderer, result)


def _show_redrive(renderer: Renderer, result: RedriveResult) -> None:
    """A redrive's notes, summary and document (a dry run's repairs as diffs); exit with its code."""
    for note in result.notes:
        renderer.warn(note)
    if result.summary:
        renderer.info(result.summary)
    document = result.document
    if result.dry_run and renderer.output not in ("json", "ndjson"):
        for repair in result.repairs:
            renderer.line(diff(repair))
        document = {key: value for key, value in document.items() if key != "repairs"}  # just shown
    renderer.document(document)
    if not result.complete:
        raise typer.Exit(result.exit_code)


@app.command("edit")
def edit_command(
    ctx: typer.Context,
    dlq: Annotated[str, typer.Argument(help="The dead-letter queue.")],
    message_id: Annotated[str, typer.Option("--id", help="The message to edit.")],
    to: Annotated[
        str | None, typer.Option("--to", help="Where to send it (default: where dlq redrive would).")
    ] = None,
    journal: Annotated[Path | None, typer.Option(help="The journal file (as dlq redrive's).")] = None,
    output: OutputOption = None,
) -> None:
    """Edit one dead letter in $EDITOR (its envelope JSON) and send it back.

    The message is held while the editor is open. On save it is checked, sent where dlq redrive would send
    it, and deleted from the DLQ only once the target confirmed it, journaled as a redrive of one. A file
    saved unchanged, or emptied, moves nothing. Exit 3 when the message was not found or could not be sent.

    Example:

        EDITOR=nano msgctl dlq edit sqs:orders-dlq --id 5fea7756-0ea4-451a-a703-a558b933e274
    """
    from msgctl.cli.editor import edit_in_editor

    state = get_state(ctx)
    renderer = state.use_output(output)
    result = state.client.edit_dead_letter(dlq, message_id, edit_in_editor, to=to, journal=journal)
    _show_redrive(renderer, result)


@app.command("status")
def status_command(ctx: typer.Context, dlq: SqsDlqArgument, output: OutputOption = None) -> None:
    """The DLQ's native move tasks (SQS)."""
    state = get_state(ctx)
    renderer = state.use_output(output)
    renderer.records(
        [
            {
                "status": t.status,
                "moved": t.moved,
                "to_move": t.to_move,
                "destination": t.destination,
                "started": iso(t.started_ms),
                "failure": t.failure,
            }
            for t in state.client.move_tasks(dlq)
        ],
        ("status", "moved", "to_move", "destination", "started", "failure"),
    )


@app.command("cancel")
def cancel_command(ctx: typer.Context, dlq: SqsDlqArgument, output: OutputOption = None) -> None:
    """Cancel the DLQ's running native move task."""
    state = get_state(ctx)
    renderer = state.use_output(output)
    moved = state.client.cancel_move_task(dlq)
    if renderer.output != "table":
        renderer.document({"dlq": str(parse_channel(dlq)), "cancelled": True, "moved": moved})
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
    payloads: PayloadsOption = None,
    output: ExportOutputOption = None,
) -> None:
    """The DLQ's messages as NDJSON envelopes (or one JSON array), without consuming them (the tail snapshot
    rules apply).

    Where a read that consumes nothing cannot see every message (an SQS FIFO queue shows one receive batch
    of each message group; an ActiveMQ browse shows at most maxBrowsePageSize), the cut is named on stderr
    with the way to read everything, the output ends with a {"partial": true, ...} record, and the exit is 3.
    """
    state = get_state(ctx)
    state.output_may_be_cut = True
    writer = MessageWriter(state.renderer, "json" if output == "json" else "ndjson")
    with state.client.export(dlq, max=max_messages, force=force, payloads=payloads) as stream:
        try:
            for envelope in stream:
                writer.write(envelope)
        finally:
            stream.close()
            writer.close(stream.report.partial_marker())
    state.renderer.info(f"exported {stream.report.shown} messages from {parse_channel(dlq)}")
    for note in stream.report.notes:
        state.renderer.warn(note)
    for line in stream.unresolved:
        state.renderer.error(line)
    if stream.partial is not None:
        state.renderer.warn(f"partial: {stream.partial}")
    if stream.partial is not None or stream.unresolved:
        raise typer.Exit(ExitCode.PARTIAL)


@app.command("purge")
def purge_command(
    ctx: typer.Context,
    dlq: SqsDlqArgument,
    yes: YesOption = False,
    payloads: Annotated[
        str,
        typer.Option(
            "--payloads",
            help="keep (one PurgeQueue; the S3 objects of extended-client messages stay) or delete (read and "
            "delete each message, then its S3 object: another message that points to the same object, such "
            "as another subscriber's copy of an SNS publish or a --copy, loses its body too).",
            click_type=click.Choice(["keep", "delete"]),
        ),
    ] = "keep",
    output: OutputOption = None,
) -> None:
    """Delete every message of the DLQ (SQS PurgeQueue). Only a queue some RedrivePolicy names is purged.
    Asks for confirmation, with the number of messages; without a terminal it needs --yes.

    Extended-client messages keep their bodies in S3: PurgeQueue leaves those objects. --payloads delete
    receives each message, deletes it, and then deletes its object (exit 3 when one could not be deleted,
    or messages held by another consumer were left)."""
    state = get_state(ctx)
    renderer = state.use_output(output)
    channel = parse_channel(dlq)
    purged = state.client.purge(channel, confirmer(renderer, yes, f"purging {channel}"), payloads)
    if renderer.output != "table":
        renderer.document(purged.to_json())
    for failure in purged.failures:
        renderer.error(failure)
    if purged.payloads_deleted is None:
        renderer.info(
            f"purged {channel}; S3 payload objects of any extended-client messages were left "
            "(--payloads delete deletes them)"
        )
    else:
        renderer.info(
            f"purged {purged.messages} messages of {channel}; deleted {purged.payloads_deleted} S3 payloads"
        )
    if purged.held_elsewhere:
        renderer.warn(f"{purged.held_elsewhere} messages held by another consumer were not purged")
    if purged.exit_code != ExitCode.OK:
        raise typer.Exit(purged.exit_code)


@journal_app.command("prune")
def journal_prune_command(
    ctx: typer.Context,
    journal: Annotated[Path | None, typer.Option(help="The journal file.")] = None,
    dlq: Annotated[
        str | None,
        typer.Option("--dlq", help="The DLQ whose default journal (a redrive's without --journal) to prune."),
    ] = None,
    older_than: Annotated[
        str | None,
        typer.Option(
            help="Only entries last changed longer ago than this: 30s, 5m, 1h, 7d (default: every finished "
            "entry, but copied ones)."
        ),
    ] = None,
    output: OutputOption = None,
) -> None:
    """Forget the finished entries of a redrive journal (moved, copied, failed, released, ...), so it stays
    small; the file shrinks on disk. Refused while a redrive runs on it.

    Unfinished entries (held, received, sent: --resume needs them) always stay, and so do entries a target
    confirmed less than 5 minutes ago (a FIFO target drops a resend within that window; the next run tells
    it by them). While a redrive is unfinished, its deleted and copied entries stay too (--resume reads
    them, so it never sends those again). Copied entries are a --copy journal's record of what it copied (a
    rerun skips them): only --older-than prunes them.

    Example:

        msgctl dlq journal prune --dlq sqs:orders-dlq --older-than 7d
    """
    state = get_state(ctx)
    renderer = state.use_output(output)
    result = state.client.prune_journal(journal=journal, dlq=dlq, older_than=older_than)
    renderer.document(result.document)
    for note in result.notes:
        renderer.info(note)
    renderer.info(result.summary)
