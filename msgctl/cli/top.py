"""top: a live screen of every channel (depth, rates, age, dead letters, consumers), or a recorder."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from msgctl.address import parse_channel
from msgctl.api.top import SORT_KEYS
from msgctl.cli.state import get_state
from msgctl.errors import UsageError


def top(
    ctx: typer.Context,
    channels: Annotated[
        list[str] | None, typer.Argument(help="Channels to watch. None: every queue msgctl can list.")
    ] = None,
    prefix: Annotated[str | None, typer.Option(help="Only channels whose name starts with this.")] = None,
    interval: Annotated[float, typer.Option(help="Seconds between two samples.", min=0.5)] = 2.0,
    sort: Annotated[
        str, typer.Option(help="Sort by depth, age, rate-in, rate-out or dlq (the largest first).")
    ] = "depth",
    count: Annotated[
        int | None, typer.Option(help="Print N samples as NDJSON, then stop (a recorder).", min=1)
    ] = None,
) -> None:
    """Watch every channel live: depth, in flight, rates in and out, oldest age, dead letters, consumers.

    A full-screen table, redrawn every --interval seconds, coloured by check's thresholds, with a sparkline
    of each channel's depth: q quits, s changes the sort, / filters by name. Rates: ActiveMQ's from its
    enqueue and dequeue counters; SQS's from CloudWatch (NumberOfMessagesSent, NumberOfMessagesDeleted,
    asked once a minute), else the change of depth between samples, marked net. When stdout is not a
    terminal, or with --count, one NDJSON line per channel per sample (t, channel, depth, in_flight,
    rate_in, rate_out, rates, oldest_age_s, dlq_depth, consumers, status). A sample costs what check's
    attribute reads cost (no tags); SNS topics hold no messages and are left to check.

    Example:

        msgctl top --prefix orders --sort age
    """
    state = get_state(ctx)
    if sort not in SORT_KEYS:
        raise UsageError(f"--sort must be one of {', '.join(SORT_KEYS)}, not {sort!r}")
    named = [parse_channel(channel) for channel in channels] if channels else None
    sampler = state.client.top_sampler(named, prefix)
    renderer = state.renderer
    if count is None and renderer.stdout_is_terminal:
        from msgctl.render.top import TopView, live

        live(renderer, sampler.sample, interval, TopView(sort))
        return
    state.output_may_be_cut = True  # a recorder piped into head ends quietly
    start, taken = time.monotonic(), 0
    while count is None or taken < count:
        if taken:
            time.sleep(max(0.0, start + taken * interval - time.monotonic()))  # no drift over many samples
        for row in sampler.sample():
            renderer.record(row.to_json())
        renderer.stdout.flush()
        taken += 1
