"""tail: watch a channel live without consuming it."""

from __future__ import annotations

from typing import Annotated

import typer

from msgctl.address import Channel, parse_channel
from msgctl.cli.confirm import confirmer
from msgctl.cli.options import (
    FilterOption,
    FilterScopeOption,
    MessagesOutputOption,
    PayloadsOption,
    YesOption,
    parse_scope,
    read_argument,
)
from msgctl.cli.signals import StopRequest
from msgctl.cli.state import AppState, get_state
from msgctl.core.tail import TailReport
from msgctl.errors import ExitCode, UsageError
from msgctl.render.messages import MessageFormat, MessageWriter


def tail_command(
    ctx: typer.Context,
    channel: Annotated[str | None, typer.Argument(help="The queue or topic to watch.")] = None,
    follow: Annotated[
        bool,
        typer.Option(
            "--follow",
            "-f",
            help="Keep going until Ctrl-C. On SQS each snapshot (every 10 s) receives every visible message "
            "once more, raising its receive count by one; tail stops before that would leave a message one "
            "receive from its DLQ.",
        ),
    ] = False,
    max_messages: Annotated[
        int | None, typer.Option("--max", "-n", help="Stop after N messages.", min=1)
    ] = None,
    wait: Annotated[float | None, typer.Option(help="Stop after this many idle seconds.", min=0)] = None,
    consume: Annotated[
        bool, typer.Option("--consume", help="Delete (ack) each message once printed.")
    ] = False,
    yes: YesOption = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Tail a queue whose maxReceiveCount is 2 or less, or whose messages msgctl's earlier "
            "receives left one receive from that limit.",
        ),
    ] = False,
    filter_policy: FilterOption = None,
    filter_scope: FilterScopeOption = "attributes",
    grep: Annotated[
        str | None, typer.Option(help="Only messages whose body matches this regular expression.")
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Only messages sent within this long: 90s, 15m, 2h, 1d.")
    ] = None,
    hold: Annotated[
        int | None,
        typer.Option(
            help="SQS: seconds a snapshot holds what it received (default: enough for the scan, at most 60).",
            min=1,
            max=43200,
        ),
    ] = None,
    unwrap: Annotated[
        bool, typer.Option("--unwrap/--no-unwrap", help="SNS: show the message, not its envelope.")
    ] = True,
    payloads: PayloadsOption = None,
    output: MessagesOutputOption = None,
    gc: Annotated[
        bool,
        typer.Option("--gc", help="Remove ephemeral tail queues left over (older than an hour) and exit."),
    ] = False,
) -> None:
    """Watch a channel without consuming it: SQS snapshots, SNS via an ephemeral queue, ActiveMQ browsing.

    Nothing is consumed unless --consume. SQS messages are held while the snapshot runs and released at its
    end (also on Ctrl-C, SIGTERM and errors); a queue that dead-letters after 2 receives or fewer is refused,
    and so is a tail whose receive would leave messages one receive from the DLQ (msgctl records its own
    receives). An SQS FIFO queue shows at most one receive batch of each group without consuming: the groups
    cut are named, NDJSON/JSON output ends with a {"partial": true, ...} record, and the exit is 3.

    Example:

        msgctl tail sqs:orders -n 20
        msgctl tail sns:orders --follow -o ndjson | jq .body
    """
    state = get_state(ctx)
    if gc:
        _collect_garbage(state)
        return
    if channel is None:
        raise UsageError("give the CHANNEL to tail (or --gc)")
    output_format = _format(state, output)
    if consume and output_format != "ndjson":
        raise UsageError(
            "--consume deletes what it printed: use -o ndjson, where each message is written whole "
            "before it is deleted"
        )
    address = parse_channel(channel)
    policy = read_argument(filter_policy) if filter_policy else None
    writer = MessageWriter(state.renderer, output_format)
    state.output_may_be_cut = not consume
    with StopRequest().installed() as stop:
        stream = state.client.tail(
            address,
            max=max_messages,
            filter=policy,
            filter_scope=parse_scope(filter_scope),
            follow=follow,
            wait=wait,
            consume=consume,
            force=force,
            hold=hold,
            unwrap=unwrap,
            since=since,
            grep=grep,
            stop_requested=stop.requested,
            confirm=confirmer(state.renderer, yes, "--consume"),
            payloads=payloads,
        )
        try:
            for envelope in stream:
                writer.write(envelope)
        except KeyboardInterrupt:
            pass  # the stream noted it; what it held is released below
        finally:
            stream.close()
            writer.close(stream.report.partial_marker())
    _summarize(state, address, stream.report)


def _summarize(state: AppState, address: Channel, report: TailReport) -> None:
    skipped = f" ({report.skipped} skipped by --filter/--grep/--since)" if report.skipped else ""
    state.renderer.info(f"tail: {report.shown} messages from {address}{skipped}")
    for note in report.notes:
        if note != "interrupted":
            state.renderer.warn(note)
    if "interrupted" in report.notes:  # a cut snapshot is not a complete one: scripts must be able to tell
        raise typer.Exit(ExitCode.INTERRUPTED)
    for line in report.unresolved:
        state.renderer.error(line)
    if report.partial is not None:
        state.renderer.warn(f"partial: {report.partial}")
        raise typer.Exit(ExitCode.PARTIAL)
    if report.unresolved:
        raise typer.Exit(ExitCode.PARTIAL)


def _format(state: AppState, output: str | None) -> MessageFormat:
    if output is None:
        return "pretty" if state.renderer.stdout_is_terminal else "ndjson"
    return "json" if output == "json" else "ndjson" if output == "ndjson" else "pretty"


def _collect_garbage(state: AppState) -> None:
    removed = state.client.remove_leftover_tail_queues()
    for name in removed:
        state.renderer.line(name)
    state.renderer.info(f"removed {len(removed)} leftover tail queues")
