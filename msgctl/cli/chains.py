"""chain create/apply/show/check/delete: topic-queue fan-out built whole and proved to deliver."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from msgctl.address import Channel, parse_channel
from msgctl.cli.confirm import require_confirmation
from msgctl.cli.options import DryRunOption, OutputOption, YesOption, read_argument
from msgctl.cli.state import AppState, get_state
from msgctl.core import chains as core
from msgctl.core.chain_file import load_chain_file
from msgctl.errors import ExitCode, MsgctlError, UsageError
from msgctl.filter.lint import parse_policy
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
    if filter_scope not in ("attributes", "body"):
        raise UsageError("--filter-scope must be attributes or body")
    policy = _read_policy(filter_policy, filter_scope) if filter_policy else None
    spec = core.ChainSpec(
        topic=parse_channel(topic),
        queues=tuple(
            core.QueueSpec(parse_channel(q), policy, "body" if filter_scope == "body" else "attributes", raw)
            for q in queues
        ),
        fifo=fifo,
        dlq=dlq,
        max_receive_count=max_receive_count,
        content_based_dedup=content_based_dedup,
        kms_key=kms_key,
        tags=tuple(_parse_tag(t) for t in tag or []),
    )
    plan = core.plan_chain(state.backends.chains_for(spec.topic), spec)
    _run_plan(renderer, plan, dry_run)


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
    specs = load_chain_file(file)
    # Every chain is planned (conflicts checked) before anything changes ...
    first = [core.plan_chain(state.backends.chains_for(spec.topic), spec) for spec in specs]
    pruned: list[core.Change] = []
    if prune:
        pruned = [
            change for spec in specs for change in state.backends.chains_for(spec.topic).plan_prune(spec)
        ]
        if pruned and not dry_run:
            require_confirmation(renderer, yes, f"remove {len(pruned)} subscriptions?", "pruning")
    # ... then each is planned again just before it is applied, seeing what the chains before it did.
    steps = [
        _given(plan) if index == 0 or dry_run else _replanned(state, spec)
        for index, (spec, plan) in enumerate(zip(specs, first, strict=True))
    ]
    steps.append(lambda: core.Plan(pruned))
    _run_plans(renderer, steps, dry_run)


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
    address = _topic(topic)
    tree = state.backends.chains_for(address).show(address)
    chain_tree(renderer, tree.to_json())


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
    address = _topic(topic)
    backend = state.backends.chains_for(address)
    tree = backend.show(address)
    probes = backend.probe(tree, timeout, force) if probe else []
    rows = [{"channel": where, "result": "broken", "detail": why} for where, why in tree.broken]
    rows += [{"channel": p.channel, "result": p.outcome, "detail": p.detail} for p in probes]
    if not rows:
        rows = [
            {"channel": link.channel or link.endpoint, "result": "ok", "detail": ""} for link in tree.links
        ]
    renderer.records(rows, ("channel", "result", "detail"))
    code = core.check_exit_code(tree, probes)
    if code != ExitCode.OK:
        failing = sorted({r["channel"] for r in rows if r["result"] in ("broken", "missing")})
        renderer.error(f"{tree.topic} does not reach: {', '.join(failing)}")
        raise typer.Exit(code)


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
    address = _topic(topic)
    plan = core.Plan(state.backends.chains_for(address).plan_delete(address, with_queues))
    if not dry_run:
        renderer.records([c.to_json() for c in plan.changes], PLAN_COLUMNS)
        require_confirmation(renderer, yes, f"delete {len(plan.pending)} resources?", "deleting")
    _run_plan(renderer, plan, dry_run)


def _run_plan(renderer: Renderer, plan: core.Plan, dry_run: bool) -> None:
    _run_plans(renderer, [lambda: plan], dry_run)


def _run_plans(renderer: Renderer, plans: Sequence[Callable[[], core.Plan]], dry_run: bool) -> None:
    """Plan and apply one step after the other (a later chain may share a queue with an earlier one), then
    print every row; on a failure, print what was applied before it, then fail."""
    shown: list[core.Change] = []
    try:
        for make_plan in plans:
            plan = make_plan()
            shown += plan.changes
            if not dry_run and plan.pending:
                core.apply_plan(plan)
    except MsgctlError:
        if shown:
            renderer.records([c.to_json() for c in shown], PLAN_COLUMNS)
            applied = sum(1 for c in shown if c.status == "applied")
            renderer.warn(f"{applied} changes were applied before the failure (status column)")
        raise
    renderer.records([c.to_json() for c in shown], PLAN_COLUMNS)
    if dry_run:
        renderer.info("dry run: nothing changed")
        return
    counts = {a: sum(1 for c in shown if c.action == a) for a in ("create", "update", "delete")}
    renderer.info(", ".join(f"{n} {a}d" for a, n in counts.items() if n) or "nothing to change")


def _given(plan: core.Plan) -> Callable[[], core.Plan]:
    return lambda: plan


def _replanned(state: AppState, spec: core.ChainSpec) -> Callable[[], core.Plan]:
    return lambda: core.plan_chain(state.backends.chains_for(spec.topic), spec)


def _topic(text: str) -> Channel:
    channel = parse_channel(text)
    if channel.kind != "topic":
        raise UsageError(f"{channel} is not a topic")
    return channel


def _parse_tag(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise UsageError(f"bad --tag {text!r}: expected KEY=VALUE")
    return key, value


def _read_policy(text: str, scope: str) -> dict[str, Any]:
    """Parse and lint, so an invalid policy stops the plan before anything is created (exit 2)."""
    return parse_policy(read_argument(text), "body" if scope == "body" else "attributes").policy
