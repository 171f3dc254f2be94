"""ls, stats and send: the commands that look at and write to any channel."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from msgctl.address import parse_channel
from msgctl.cli.options import OutputOption, PayloadAlwaysOption, PayloadBucketOption
from msgctl.cli.state import get_state
from msgctl.core import channels as core
from msgctl.errors import ExitCode, UsageError

LS_COLUMNS = ("channel", "kind", "depth", "in_flight", "delayed", "dlq", "subscriptions")


def ls(
    ctx: typer.Context,
    service: Annotated[
        str | None,
        typer.Argument(help="sqs, sns or amq. Default: SQS and SNS, and ActiveMQ when a broker is set."),
    ] = None,
    prefix: Annotated[str | None, typer.Option(help="Only channels whose name starts with this.")] = None,
    output: OutputOption = None,
) -> None:
    """List channels with their depth, in-flight and delayed counts, DLQ and subscriptions.

    Example:

        msgctl ls sqs --prefix orders -o json
    """
    state = get_state(ctx)
    renderer = state.use_output(output)
    channels = state.client.channels(service, prefix)
    for name, failure in channels.failures:
        renderer.warn(f"{name}: {failure}")
    renderer.records([summary.to_json() for summary in channels], LS_COLUMNS)
    if channels.failures:  # what could be listed was; say the rest failed
        raise typer.Exit(ExitCode.PARTIAL)


def stats(
    ctx: typer.Context,
    channel: Annotated[str, typer.Argument(help="The channel address, e.g. sqs:orders or amq:queue/orders.")],
    output: OutputOption = None,
) -> None:
    """Show one channel in detail: counts, DLQ, oldest message age and everything the broker reports.

    Example:

        msgctl stats amq:queue/orders
    """
    state = get_state(ctx)
    renderer = state.use_output(output)
    renderer.document(state.client.stats(channel).to_json())


def send(
    ctx: typer.Context,
    channel: Annotated[str, typer.Argument(help="Where to send.")],
    body: Annotated[
        str | None, typer.Argument(help="The message body; - or nothing reads it from stdin.")
    ] = None,
    attr: Annotated[
        list[str] | None,
        typer.Option(
            "--attr",
            help="A message attribute, NAME=VALUE (String) or NAME:TYPE=VALUE with TYPE String, Number, "
            "Binary (base64) or String.Array (JSON list). Repeatable.",
        ),
    ] = None,
    group_id: Annotated[
        str | None, typer.Option(help="Message group (FIFO; JMSXGroupID on ActiveMQ).")
    ] = None,
    dedup_id: Annotated[str | None, typer.Option(help="Deduplication id (FIFO).")] = None,
    payload_bucket: PayloadBucketOption = None,
    payload_always: PayloadAlwaysOption = False,
    output: OutputOption = None,
) -> None:
    """Send one message. ActiveMQ messages are sent persistent and confirmed by a broker receipt.

    A body over the target's size limit needs --payload-bucket: it goes to S3 and the message is its
    extended-client pointer.

    Example:

        msgctl send sqs:orders.fifo '{"id": 1}' --group-id customer-7 --attr kind=order
    """
    state = get_state(ctx)
    renderer = state.use_output(output)
    address = parse_channel(channel)
    if state.flags.password_stdin and body in (None, "-"):
        raise UsageError("stdin cannot carry both the broker password and the message body")
    attributes = core.parse_attributes(attr or [])
    receipt = state.client.send(
        address,
        _read_body(body),
        attributes,
        group_id,
        dedup_id,
        payload_bucket=payload_bucket,
        payload_always=payload_always,
    )
    renderer.document(receipt.to_json())


def _read_body(body: str | None) -> bytes:
    if body is not None and body != "-":
        return body.encode("utf-8")
    if body is None and sys.stdin.isatty():
        raise UsageError("no message body: give BODY, or - to read it from stdin")
    return sys.stdin.buffer.read()
