"""filter lint/test/which/to-selector/attach/show/detach: SNS filter policies checked before AWS sees them."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from msgctl.api.filters import APPLY_DELAY, Filters, Subscription
from msgctl.cli.options import OutputOption, PayloadsOption, parse_scope, read_argument
from msgctl.cli.state import get_state
from msgctl.errors import ExitCode, UsageError
from msgctl.filter.scan import read_lines
from msgctl.filter.selector import NOTES

app = typer.Typer(
    help="SNS subscription filter policies: lint and test offline, attach to subscriptions.",
    no_args_is_help=True,
)
ScopeOption = Annotated[str, typer.Option("--scope", help="attributes (message attributes) or body.")]
PolicyArgument = Annotated[str, typer.Argument(help="The policy: JSON, @FILE or - (stdin).")]
SubscriptionArgument = Annotated[str | None, typer.Argument(help="The subscription ARN.")]
TopicLookup = Annotated[str | None, typer.Option(help="With --queue: find the subscription.")]
QueueLookup = Annotated[str | None, typer.Option(help="With --topic: the subscribed queue.")]


@app.command("lint")
def lint_command(
    ctx: typer.Context,
    policy: PolicyArgument,
    scope: ScopeOption = "attributes",
    output: OutputOption = None,
) -> None:
    """Check a policy against AWS's constraints; every problem with its JSON path. Exit 0 valid, 2 invalid.

    Example:

        msgctl filter lint '{"price": [{"numeric": [">", 0, "<=", 150]}]}'
    """
    renderer = get_state(ctx).use_output(output)
    problems = Filters.lint(read_argument(policy), parse_scope(scope, "--scope"))
    rows = [{"path": p.path, "reason": p.reason} for p in problems]
    if renderer.output == "table":
        if rows:
            renderer.records(rows, ("path", "reason"))
    else:
        renderer.document({"valid": not problems, "problems": rows})
    if problems:
        renderer.error(f"invalid filter policy: {len(problems)} problem{'s' if len(problems) > 1 else ''}")
        raise typer.Exit(ExitCode.USAGE)
    renderer.info("valid")


@app.command("test")
def test_command(
    ctx: typer.Context,
    policy: PolicyArgument,
    scope: ScopeOption = "attributes",
    message: Annotated[str | None, typer.Option("--message", help="The message body to decide.")] = None,
    attributes: Annotated[
        str | None,
        typer.Option(
            help='Message attributes as JSON: {"k": "v", "n": 5, "l": ["a"]} or typed '
            '{"k": {"Type": "Number", "Value": "301.50"}}.'
        ),
    ] = None,
    input: Annotated[
        str | None, typer.Option("--input", help="NDJSON envelopes to filter: a file or - (stdin).")
    ] = None,
    invert: Annotated[bool, typer.Option("--invert", help="Keep the envelopes that do not match.")] = False,
    count: Annotated[bool, typer.Option("--count", help="Print only the number of matches.")] = False,
    payloads: PayloadsOption = None,
    output: OutputOption = None,
) -> None:
    """Decide one message (--message/--attributes), or filter envelopes (--input) like grep.

    Exit 0 on a match (or when some envelope matched), 1 when nothing matched, 2 on bad input, 3 when the
    S3 payload of an extended-client message could not be read (--scope body reads each one; such a
    message is named and matches nothing).

    Example:

        msgctl filter test '{"kind": ["order"]}' --message '{}' --attributes '{"kind": "order"}'
        msgctl tail sqs:orders -o ndjson | msgctl filter test @policy.json --input - --count
    """
    renderer = get_state(ctx).use_output(output)
    if (input is None) == (message is None and attributes is None):
        raise UsageError("give either --message/--attributes or --input")
    text, chosen_scope = read_argument(policy), parse_scope(scope, "--scope")
    if input is not None:
        write = sys.stdout.write
        source = read_lines(sys.stdin, "-") if input == "-" else Path(input)
        result = get_state(ctx).client.filters.test_payloads(
            text,
            source,
            chosen_scope,
            payloads=payloads,
            invert=invert,
            keep_matches=False,
            on_match=None if count else lambda line: write(line + "\n"),
        )
        if count:
            renderer.line(str(result.matched))
        for line in result.unresolved:
            renderer.error(line)
        if result.unresolved:
            raise typer.Exit(ExitCode.PARTIAL)
        raise typer.Exit(ExitCode.OK if result.matched else ExitCode.FAILED)
    decision = Filters.decide(text, message or "", attributes, chosen_scope)
    if renderer.output == "table":
        renderer.line("match" if decision.match else f"no match: {decision.reason}")
    else:
        renderer.document(decision.to_json())
    if not decision.match:
        raise typer.Exit(ExitCode.FAILED)


@app.command("which")
def which_command(
    ctx: typer.Context,
    topic: Annotated[str, typer.Argument(help="The topic: sns:NAME or its ARN.")],
    message: Annotated[str, typer.Option("--message", help="The message body.")] = "",
    attributes: Annotated[str | None, typer.Option(help="Message attributes as JSON, as for test.")] = None,
    output: OutputOption = None,
) -> None:
    """Say which of the topic's subscriptions would receive a message. Exit 1 when none would.

    Example:

        msgctl filter which sns:orders --message '{"total": 12}' --attributes '{"kind": "refund"}'
    """
    state = get_state(ctx)
    renderer = state.use_output(output)
    recipients = state.client.filters.which(topic, message, attributes)
    renderer.records([r.to_json() for r in recipients], ("endpoint", "protocol", "receives", "reason"))
    if not any(r.receives for r in recipients):
        raise typer.Exit(ExitCode.FAILED)


@app.command("to-selector")
def to_selector_command(
    ctx: typer.Context,
    policy: Annotated[str, typer.Argument(help="An attribute-scope policy: JSON, @FILE or - (stdin).")],
    output: OutputOption = None,
) -> None:
    """Translate an attribute-scope policy into a JMS SQL92 selector for ActiveMQ consumers.

    Example:

        msgctl filter to-selector '{"kind": ["order"], "total": [{"numeric": [">", 100]}]}'
    """
    renderer = get_state(ctx).use_output(output)
    selector = Filters.to_selector(read_argument(policy))
    if renderer.output == "table":
        renderer.line(selector)
        for note in NOTES:
            renderer.info(f"note: {note}")
    else:
        renderer.document({"selector": selector, "notes": list(NOTES)})


@app.command("attach")
def attach_command(
    ctx: typer.Context,
    args: Annotated[list[str], typer.Argument(help="[SUBSCRIPTION_ARN] POLICY (JSON, @FILE or -).")],
    topic: TopicLookup = None,
    queue: QueueLookup = None,
    scope: ScopeOption = "attributes",
    output: OutputOption = None,
) -> None:
    """Lint a policy, then attach it to a subscription (an invalid policy never reaches AWS: exit 2).

    Example:

        msgctl filter attach --topic sns:orders --queue sqs:billing '{"kind": ["order"]}'
    """
    state = get_state(ctx)
    renderer = state.use_output(output)
    if len(args) != (1 if topic or queue else 2):
        raise UsageError("give SUBSCRIPTION_ARN POLICY, or --topic TOPIC --queue QUEUE POLICY")
    text, chosen_scope = read_argument(args[-1]), parse_scope(scope, "--scope")
    subscription = _subscription(args[0] if len(args) == 2 else None, topic, queue)
    attached = state.client.filters.attach(subscription, text, chosen_scope)
    renderer.document(attached.to_json())
    renderer.info(APPLY_DELAY)


@app.command("show")
def show_command(
    ctx: typer.Context,
    subscription: SubscriptionArgument = None,
    topic: TopicLookup = None,
    queue: QueueLookup = None,
    output: OutputOption = None,
) -> None:
    """Show a subscription's filter policy and scope."""
    state = get_state(ctx)
    renderer = state.use_output(output)
    shown = state.client.filters.show(_subscription(subscription, topic, queue))
    renderer.document(shown.to_json())


@app.command("detach")
def detach_command(
    ctx: typer.Context,
    subscription: SubscriptionArgument = None,
    topic: TopicLookup = None,
    queue: QueueLookup = None,
    output: OutputOption = None,
) -> None:
    """Remove a subscription's filter policy: it receives every message again."""
    state = get_state(ctx)
    renderer = state.use_output(output)
    detached = state.client.filters.detach(_subscription(subscription, topic, queue))
    if renderer.output != "table":
        renderer.document(detached.to_json())
    renderer.info(f"detached; {APPLY_DELAY}")


def _subscription(arn: str | None, topic: str | None, queue: str | None) -> Subscription:
    if arn and not (topic or queue):
        return arn
    if topic and queue and not arn:
        return (topic, queue)
    raise UsageError("give a SUBSCRIPTION_ARN, or --topic TOPIC and --queue QUEUE")
