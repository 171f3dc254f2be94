"""replay: re-send captured messages idempotently, with deduplication ids and a ledger."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from msgctl.api.replay import ReplayResult
from msgctl.cli.options import (
    DryRunOption,
    FilterOption,
    FilterScopeOption,
    OutputOption,
    PayloadAlwaysOption,
    PayloadBucketOption,
    PayloadsOption,
    TransformArgOption,
    TransformBodyOption,
    TransformOption,
    parse_scope,
    read_argument,
)
from msgctl.cli.state import get_state
from msgctl.core.replay import DEFAULT_CONCURRENCY
from msgctl.core.transform import diff_documents, parse_args
from msgctl.errors import ExitCode, Interrupted, MsgctlError, UsageError
from msgctl.render import Renderer
from msgctl.render.progress import ProgressBar


def replay_command(
    ctx: typer.Context,
    to: Annotated[str, typer.Option("--to", help="The queue or topic to send to.")],
    source: Annotated[
        str | None,
        typer.Argument(help="An NDJSON file of envelopes (tail, dlq export), - for stdin, or a channel."),
    ] = None,
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
    payload_bucket: PayloadBucketOption = None,
    payload_always: PayloadAlwaysOption = False,
    payloads: PayloadsOption = None,
    dry_run: DryRunOption = False,
    ledger_prune: Annotated[
        str | None,
        typer.Option(
            metavar="OLDER_THAN",
            help="Instead of replaying (no SOURCE): remove from the ledger what it holds as sent longer ago "
            "than this (30s, 5m, 1h, 7d; never less than 5 minutes ago), and exit. A later replay sends "
            "those again; sends that were under way stay (they name possible duplicates).",
        ),
    ] = None,
    transform_body: TransformBodyOption = None,
    transform: TransformOption = None,
    transform_arg: TransformArgOption = None,
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

    The input is read twice (standard input is first copied to a temporary file), so memory stays flat
    whatever its size. A dry run sums up what it would send (how many, by group, the first and last few);
    with -o ndjson it prints one line per message instead.

    A jq program (--transform-body, --transform) repairs each message after --filter; the deduplication id
    is the repaired message's. A message it fails on is left unsent and named (exit 3); with --dry-run it
    prints a diff of each message before and after (-o ndjson: "before" and "after" on each line).

    Example:

        msgctl replay captured.ndjson --to sqs:orders.fifo --dedup-id message-id

        msgctl replay --to sqs:orders.fifo --ledger-prune 30d
    """
    state = get_state(ctx)
    renderer = state.use_output(output)
    if ledger_prune is not None:
        if source is not None or dry_run:
            raise UsageError("--ledger-prune only prunes the ledger: it takes no SOURCE and no --dry-run")
        pruned = state.client.prune_ledger(to, ledger_prune, ledger=ledger)
        renderer.document(pruned.document)
        renderer.info(pruned.summary)
        return
    if source is None:
        raise UsageError("missing SOURCE: an NDJSON file, - for stdin, or a channel (see --help)")
    if source == "-" and "-" in (filter_policy, transform_body, transform):
        raise UsageError("the input and --filter or a program cannot both come from stdin")
    repairs: list[dict[str, Any]] = []
    try:
        with ProgressBar(renderer) as progress:
            result = state.client.replay(
                sys.stdin.buffer if source == "-" else source,
                to,
                dedup_id=dedup_id,
                group_id=group_id,
                ledger=ledger,
                dry_run=dry_run,
                force=force,
                rate=rate,
                concurrency=concurrency,
                filter=read_argument(filter_policy) if filter_policy else None,
                filter_scope=parse_scope(filter_scope),
                max=max_messages,
                duration=duration,
                skip_invalid=skip_invalid,
                on_progress=progress,
                on_would_send=_would_send(renderer, dry_run, transform_body or transform, repairs),
                transform_body=read_argument(transform_body) if transform_body is not None else None,
                transform=read_argument(transform) if transform is not None else None,
                transform_args=parse_args(transform_arg or []),
                payload_bucket=payload_bucket,
                payload_always=payload_always,
                payloads=payloads,
            )
    except (Interrupted, MsgctlError) as exc:
        # What went out so far, with its possible duplicates: a rerun may not be able to name them again.
        if isinstance(exc.result, ReplayResult):
            renderer.document({**exc.result.document, "interrupted": True})
        if exc.note:
            renderer.warn(exc.note)
        if isinstance(exc, Interrupted):
            raise typer.Exit(ExitCode.INTERRUPTED) from None
        raise
    if not (dry_run and renderer.output == "ndjson"):  # that streamed a line a message
        renderer.document(result.document | ({"repairs": repairs} if repairs else {}))
    renderer.info(result.summary)
    if not result.complete:
        raise typer.Exit(result.exit_code)


def _would_send(
    renderer: Renderer, dry_run: bool, program: str | None, repairs: list[dict[str, Any]]
) -> Callable[[dict[str, Any]], None] | None:
    """What a dry run shows of each message: a line of NDJSON with -o ndjson; with a program, its diff
    (-o json: kept in ``repairs`` for the document)."""
    if not dry_run:
        return None
    if renderer.output == "ndjson":
        return renderer.record
    if program is None:
        return None
    if renderer.output == "json":
        return lambda message: repairs.append(
            {"id": message["id"], "before": message["before"], "after": message["after"]}
        )
    return lambda message: renderer.line(
        diff_documents(str(message["id"]), message["before"], message["after"])
    )
