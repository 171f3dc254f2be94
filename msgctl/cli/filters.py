"""filter lint/test/which/to-selector/attach/show/detach: SNS filter policies checked before AWS sees them."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from msgctl.address import Channel, endpoint_name, parse_channel
from msgctl.cli.options import OutputOption, parse_scope, read_argument
from msgctl.cli.state import AppState, get_state
from msgctl.errors import ExitCode, UsageError
from msgctl.filter.engine import Message
from msgctl.filter.lint import InvalidPolicy, decode_policy, lint, parse_policy
from msgctl.filter.messages import attributes_from_json
from msgctl.filter.scan import scan_file, select_lines
from msgctl.filter.selector import NOTES, to_selector

if TYPE_CHECKING:
    from msgctl.backends.sns import SnsBackend

app = typer.Typer(
    help="SNS subscription filter policies: lint and test offline, attach to subscriptions.",
    no_args_is_help=True,
)
ScopeOption = Annotated[str, typer.Option("--scope", help="attributes (message attributes) or body.")]
APPLY_DELAY = "AWS takes up to 15 minutes to apply a filter policy change everywhere"


@app.command("lint")
def lint_command(
    ctx: typer.Context,
    policy: Annotated[str, typer.Argument(help="The policy: JSON, @FILE or - (stdin).")],
    scope: ScopeOption = "attributes",
    output: OutputOption = None,
) -> None:
    """Check a policy against AWS's constraints; every problem with its JSON path. Exit 0 valid, 2 invalid.

    Example:

        msgctl filter lint '{"price": [{"numeric": [">", 0, "<=", 150]}]}'
    """
    renderer = get_state(ctx).use_output(output)
    parsed, problems = decode_policy(read_argument(policy))
    if parsed is not None:
        problems += lint(parsed, parse_scope(scope, "--scope"))
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
    policy: Annotated[str, typer.Argument(help="The policy: JSON, @FILE or - (stdin).")],
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
    output: OutputOption = None,
) -> None:
    """Decide one message (--message/--attributes), or filter envelopes (--input) like grep.

    Exit 0 on a match (or when some envelope matched), 1 when nothing matched, 2 on bad input.

    Example:

        msgctl filter test '{"kind": ["order"]}' --message '{}' --attributes '{"kind": "order"}'
        msgctl tail sqs:orders -o ndjson | msgctl filter test @policy.json --input - --count
    """
    renderer = get_state(ctx).use_output(output)
    if (input is None) == (message is None and attributes is None):
        raise UsageError("give either --message/--attributes or --input")
    compiled = parse_policy(read_argument(policy), parse_scope(scope, "--scope"))
    if input is not None:
        matched = 0
        write = sys.stdout.write
        if input != "-" and Path(input).is_file():
            for result in scan_file(compiled, input, invert, keep_lines=not count):
                matched += result.count
                for line in result.lines:
                    write(line if line.endswith("\n") else line + "\n")
        else:
            for line in select_lines(compiled, _lines(input), invert):
                matched += 1
                if not count:
                    write(line if line.endswith("\n") else line + "\n")
        if count:
            renderer.line(str(matched))
        raise typer.Exit(ExitCode.OK if matched else ExitCode.FAILED)
    decision = compiled.decide(
        Message(body=message or "", attributes=attributes_from_json(attributes) if attributes else {})
    )
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
    sample = Message(body=message, attributes=attributes_from_json(attributes) if attributes else {})
    rows = []
    for sub in _sns(state).topic_subscriptions(_topic(topic)):
        reason = None
        if sub["filter_policy"] is not None:
            try:
                policy = parse_policy(
                    json.dumps(sub["filter_policy"]), parse_scope(sub["filter_scope"], "--scope")
                )
                decision = policy.decide(sample)
                reason = decision.reason
            except InvalidPolicy as exc:
                reason = f"its policy is invalid here: {exc.message}"
        rows.append(
            {
                "endpoint": endpoint_name(sub["protocol"], sub["endpoint"]),
                "protocol": sub["protocol"],
                "receives": reason is None,
                "reason": reason or ("no filter policy" if sub["filter_policy"] is None else "matches"),
            }
        )
    renderer.records(rows, ("endpoint", "protocol", "receives", "reason"))
    if not any(row["receives"] for row in rows):
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
    compiled = parse_policy(read_argument(policy), "attributes")
    selector = to_selector(compiled.policy)
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
    topic: Annotated[str | None, typer.Option(help="With --queue: find the subscription.")] = None,
    queue: Annotated[str | None, typer.Option(help="With --topic: the subscribed queue.")] = None,
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
    compiled = parse_policy(read_argument(args[-1]), parse_scope(scope, "--scope"))
    sns = _sns(state)
    arn = _subscription(sns, args[0] if len(args) == 2 else None, topic, queue)
    sns.set_subscription_filter(arn, compiled.policy, compiled.scope)
    renderer.document({"subscription": arn, "filter_policy": compiled.policy, "filter_scope": compiled.scope})
    renderer.info(APPLY_DELAY)


@app.command("show")
def show_command(
    ctx: typer.Context,
    subscription: Annotated[str | None, typer.Argument(help="The subscription ARN.")] = None,
    topic: Annotated[str | None, typer.Option(help="With --queue: find the subscription.")] = None,
    queue: Annotated[str | None, typer.Option(help="With --topic: the subscribed queue.")] = None,
    output: OutputOption = None,
) -> None:
    """Show a subscription's filter policy and scope."""
    state = get_state(ctx)
    renderer = state.use_output(output)
    sns = _sns(state)
    arn = _subscription(sns, subscription, topic, queue)
    policy, scope = sns.subscription_filter(arn)
    renderer.document({"subscription": arn, "filter_policy": policy, "filter_scope": scope})


@app.command("detach")
def detach_command(
    ctx: typer.Context,
    subscription: Annotated[str | None, typer.Argument(help="The subscription ARN.")] = None,
    topic: Annotated[str | None, typer.Option(help="With --queue: find the subscription.")] = None,
    queue: Annotated[str | None, typer.Option(help="With --topic: the subscribed queue.")] = None,
    output: OutputOption = None,
) -> None:
    """Remove a subscription's filter policy: it receives every message again."""
    state = get_state(ctx)
    renderer = state.use_output(output)
    sns = _sns(state)
    arn = _subscription(sns, subscription, topic, queue)
    sns.set_subscription_filter(arn, None, "attributes")
    if renderer.output != "table":
        renderer.document({"subscription": arn, "filter_policy": None, "filter_scope": None})
    renderer.info(f"detached; {APPLY_DELAY}")


def _sns(state: AppState) -> SnsBackend:
    from msgctl.backends.sns import SnsBackend

    backend = state.backends.for_service("sns")
    assert isinstance(backend, SnsBackend)
    return backend


def _subscription(sns: SnsBackend, arn: str | None, topic: str | None, queue: str | None) -> str:
    if arn and not (topic or queue):
        return arn
    if topic and queue and not arn:
        return sns.find_subscription(_topic(topic), parse_channel(queue))
    raise UsageError("give a SUBSCRIPTION_ARN, or --topic TOPIC and --queue QUEUE")


def _topic(text: str) -> Channel:
    channel = parse_channel(text)
    if channel.service != "sns":
        raise UsageError(f"{channel} is not an SNS topic")
    return channel


def _lines(source: str) -> Iterator[str]:
    try:
        if source == "-":
            yield from sys.stdin
        else:
            with open(source, encoding="utf-8") as stream:
                yield from stream
    except OSError as exc:
        raise UsageError(f"cannot read {source}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{source}: the input is not UTF-8 text") from None
