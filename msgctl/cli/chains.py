"""chain create/apply/show/check/delete: topic-queue fan-out built whole and proved to deliver."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from msgctl.cli.confirm import confirmer
from msgctl.cli.options import DryRunOption, OutputOption, YesOption, parse_scope, read_argument
from msgctl.cli.state import get_state
from msgctl.core.chains import ApplyError, ChainPlan, Change
from msgctl.errors import ExitCode, UsageError
from msgctl.render import Renderer
from msgctl.render.chains import chain_tree

PLAN_COLUMNS = ("resource", "action", "detail", "status")

app = typer.Typer(
    help="Topic-queue chains: SNS topic -> SQS queues, or ActiveMQ virtual topic -> consumer queues.",
    no_args_is_help=True,
)


@app.command()
def create(
    ctx: typer.Context,
    topic: Annotated[str, typer.Argument(help="The topic: sns:NAME or amq:topic/VirtualTopic.NAME.")],
    queues: Annotated[list[str], typer.Argument(help="The queues it feeds: sqs:NAME or amq:queue/NAME.")],
    fifo: Annotated[bool, typer.Option("--fifo", help="A FIFO chain (names end in .fifo).")] = False,
    dlq: Annotated[bool, typer.Option("--dlq/--no-dlq", help="A DLQ NAME-dlq for each queue.")] = True,
    max_receive_count: Annotated[int, typer.Option(help="Receives before a message goes to the DLQ.")] = 5,
    raw: Annotated[bool, typer.Option("--raw/--no-raw", help="Raw delivery (no SNS envelope).")] = True,
    filter_policy: Annotated[
        str | None, typer.Option(help="A filter policy for every subscription: JSON, @FILE or - (stdin).")
    ] = None,
    filter_scope: Annotated[str, typer.Option(help="attributes or body.")] = "attributes",
    content_based_dedup: Annotated[
        bool, typer.Option("--content-based-dedup", help="FIFO topic deduplicates by content.")
    ] = False,
    kms_key: Annotated[str | None, typer.Option(help="KMS key for the queues (not alias/aws/sqs).")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="KEY=VALUE, repeatable.")] = None,
    dry_run: DryRunOption = False,
    output: OutputOption = None,
) -> None:
    """Create what is missing of a chain: topic, queues, DLQs, queue policies and subscriptions.

    Idempotent: a second run changes nothing and says so. An existing resource that conflicts with what is
    asked is reported field by field (exit 2) and nothing is changed. ActiveMQ chains are virtual topics,
    named in full (amq:topic/VirtualTopic.TOPIC): producers send there and each consumer QUEUE reads
    Consumer.QUEUE.VirtualTopic.TOPIC.

    Example:

        msgctl chain create sns:orders sqs:billing sqs:shipping --filter-policy '{"kind": ["order"]}'
    """
    state = get_state(ctx)
    renderer = state.use_output(output)
    scope = parse_scope(filter_scope)
    policy = read_argument(filter_policy) if filter_policy else None
    _render_run(
        renderer,
        lambda: state.client.chains.create(
            topic,
            queues,
            fifo=fifo,
            dlq=dlq,
            max_receive_count=max_receive_count,
            raw=raw,
            filter_policy=policy,
            filter_scope=scope,
            content_based_dedup=content_based_dedup,
            kms_key=kms_key,
            tags=[_parse_tag(t) for t in tag or []],
            dry_run=dry_run,
        ),
        dry_run,
    )


@app.command()
def apply(
    ctx: typer.Context,
    file: Annotated[Path, typer.Option("--file", "-f", help="Chains in a TOML or YAML file.")],
    prune: Annotated[
        bool,
        typer.Option("--prune", help="Remove subscriptions of these topics that the file does not list."),
    ] = False,
    dry_run: DryRunOption = False,
    yes: YesOption = False,
    output: OutputOption = None,
) -> None:
    """Create or complete every chain a file declares, with the same planner as create.

    Example:

        msgctl chain apply -f chains.toml --dry-run
    """
    state = get_state(ctx)
    renderer = state.use_output(output)
    confirm = confirmer(renderer, yes, "pruning")
    _render_run(
        renderer,
        lambda: state.client.chains.apply(file, prune=prune, dry_run=dry_run, confirm_prune=confirm),
        dry_run,
    )


@app.command()
def show(
    ctx: typer.Context,
    topic: Annotated[str, typer.Argument(help="The chain's topic.")],
    output: OutputOption = None,
) -> None:
    """Show a chain as a tree: topic -> subscriptions -> queues and their DLQs; broken links flagged.

    Example:

        msgctl chain show sns:orders -o json
    """
    state = get_state(ctx)
    renderer = state.use_output(output)
    chain_tree(renderer, state.client.chains.show(topic).to_json())


@app.command()
def check(
    ctx: typer.Context,
    topic: Annotated[str, typer.Argument(help="The chain's topic.")],
    probe: Annotated[
        bool,
        typer.Option(
            "--probe",
            help="Publish a canary through the topic and take it back from every queue. On SQS the scan "
            "receives from each queue: messages other than the canary are held, then released, and their "
            "receive count goes up by one; as tail, it refuses a queue where that would leave messages one "
            "receive from the DLQ (or move them there).",
        ),
    ] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the canary.")] = 20.0,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Probe also a queue whose maxReceiveCount is 2 or less, or whose messages msgctl's earlier "
            "receives left one receive from that limit.",
        ),
    ] = False,
    output: OutputOption = None,
) -> None:
    """Check that a chain delivers: the static checks of show, and with --probe a canary message.

    Exit 0 when every queue is reachable (and received the canary, or filters it out by policy),
    3 when some are broken or missing, naming them.

    Example:

        msgctl chain check sns:orders --probe --timeout 30
    """
    state = get_state(ctx)
    renderer = state.use_output(output)
    result = state.client.chains.check(topic, probe=probe, timeout=timeout, force=force)
    renderer.records([row.to_json() for row in result.rows], ("channel", "result", "detail"))
    if result.exit_code != ExitCode.OK:
        renderer.error(f"{result.tree.topic} does not reach: {', '.join(result.unreachable)}")
        raise typer.Exit(result.exit_code)


@app.command()
def delete(
    ctx: typer.Context,
    topic: Annotated[str, typer.Argument(help="The chain's topic.")],
    with_queues: Annotated[
        bool, typer.Option("--with-queues", help="Delete the queues and their DLQs too, messages included.")
    ] = False,
    dry_run: DryRunOption = False,
    yes: YesOption = False,
    output: OutputOption = None,
) -> None:
    """Delete a chain: its subscriptions and topic (and with --with-queues its queues and DLQs).

    Without --with-queues the queues stay, and the grant msgctl put in their policies is removed.
    Asks for confirmation; without a terminal it needs --yes.
    """
    state = get_state(ctx)
    renderer = state.use_output(output)
    _render_run(
        renderer,
        lambda: state.client.chains.delete(
            topic,
            with_queues=with_queues,
            dry_run=dry_run,
            confirm=confirmer(renderer, yes, "deleting"),
            on_plan=lambda plan: _records(renderer, plan.changes),
        ),
        dry_run,
    )


def _render_run(renderer: Renderer, run: Callable[[], ChainPlan], dry_run: bool) -> None:
    """Print every row of what the call planned and applied; on a failure, what was applied before it."""
    try:
        plan = run()
    except ApplyError as exc:
        _records(renderer, exc.changes)
        applied = sum(1 for c in exc.changes if c.status == "applied")
        renderer.warn(f"{applied} changes were applied before the failure (status column)")
        raise
    _records(renderer, plan.changes)
    if dry_run:
        renderer.info("dry run: nothing changed")
        return
    counts = {a: sum(1 for c in plan.changes if c.action == a) for a in ("create", "update", "delete")}
    renderer.info(", ".join(f"{n} {a}d" for a, n in counts.items() if n) or "nothing to change")


def _records(renderer: Renderer, changes: list[Change]) -> None:
    renderer.records([c.to_json() for c in changes], PLAN_COLUMNS)


def _parse_tag(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise UsageError(f"bad --tag {text!r}: expected KEY=VALUE")
    return key, value
