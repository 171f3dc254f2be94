"""fifo lag: which message groups are behind or blocked, on SQS FIFO queues and ActiveMQ message groups."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer

from msgctl.cli.options import LagOutputOption
from msgctl.cli.signals import StopRequest
from msgctl.cli.state import AppState, get_state
from msgctl.core.fifo_lag import STATUS_EXIT, LagReport, Thresholds
from msgctl.core.tail import parse_duration
from msgctl.errors import MsgctlError, UsageError
from msgctl.render.lag import GROUP_COLUMNS

if TYPE_CHECKING:
    from msgctl.api.lag import LagMeter

Measure = Callable[[Callable[[], bool]], LagReport]  # one measurement, given how to ask whether to stop

app = typer.Typer(
    help="FIFO queues and message groups: which groups are behind or blocked.", no_args_is_help=True
)


@app.command("lag")
def lag_command(
    ctx: typer.Context,
    channel: Annotated[str, typer.Argument(help="An SQS FIFO queue or an ActiveMQ queue.")],
    sample: Annotated[
        int, typer.Option(help="SQS: receive at most N messages a sweep (each costs one receive).", min=1)
    ] = 1000,
    hold: Annotated[
        int,
        typer.Option(
            help="SQS: seconds the sweep holds what it received before releasing it.", min=1, max=43200
        ),
    ] = 30,
    groups: Annotated[
        str | None,
        typer.Option(
            help="Only these groups, comma-separated (ActiveMQ: each counted exactly by a selector)."
        ),
    ] = None,
    group_property: Annotated[
        str | None,
        typer.Option(help="ActiveMQ: group a browse by this property (default msgctl_group, set by msgctl)."),
    ] = None,
    top: Annotated[int | None, typer.Option(help="Show the K groups with the oldest heads.", min=1)] = None,
    warn: Annotated[str | None, typer.Option(help="Warn at this head age: seconds or 90s, 5m, 2h.")] = None,
    crit: Annotated[str | None, typer.Option(help="Critical at this head age.")] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="SQS: measure a queue whose maxReceiveCount is 2 or less, or whose messages msgctl's "
            "earlier receives left one receive from that limit.",
        ),
    ] = False,
    watch: Annotated[
        float | None, typer.Option(help="Redraw a live table every this many seconds.", min=1)
    ] = None,
    output: LagOutputOption = None,
) -> None:
    """Per-group lag: head age, count, and whether a group is waiting, blocked or in flight.

    SQS FIFO: a receive sweep sees the head (and the first few messages) of every group not in flight,
    holding them for --hold seconds and then releasing all of them; each message seen costs one receive,
    and the output says how many are now one receive from the DLQ. Counts are lower bounds where a group
    may hold more than the sweep saw. ActiveMQ: a browse, which consumes nothing (at most 400 messages).

    Example:

        msgctl fifo lag sqs:orders.fifo --warn 5m --crit 15m -o nagios
    """
    state = get_state(ctx)
    chosen = output or "table"

    def meter(wanted: list[str] | None) -> LagMeter:
        return state.client.lag_meter(
            channel, hold, sample, wanted, group_property=group_property, top=top, force=force
        )

    if chosen == "nagios":  # a bad --groups is within the Nagios error handling too: UNKNOWN
        _nagios(state, lambda: _stoppable(meter(_names(groups)).measure), warn, crit)
        return
    wanted = _names(groups)
    thresholds = _thresholds(warn, crit)
    if watch is not None:
        from msgctl.render.lag import watch as watch_live

        live = meter(wanted)
        watch_live(
            state.renderer, lambda: _stoppable(lambda stop: live.measure(stop, again=True)), watch, top
        )
        return
    _print(state, _stoppable(meter(wanted).measure), chosen, thresholds)


def _print(state: AppState, report: LagReport, chosen: str, thresholds: Thresholds) -> None:
    renderer = state.renderer
    for note in report.notes:
        renderer.warn(note)
    if chosen == "prometheus":
        from msgctl.render.lag import prometheus

        renderer.line(prometheus(report).rstrip("\n"))
    elif chosen in ("json", "ndjson"):
        renderer.document({**report.to_json(), "status": thresholds.status(report)})
    else:
        renderer.records([g.to_json() for g in report.groups], GROUP_COLUMNS)
        renderer.line("")
        renderer.document(report.queue)


def _nagios(state: AppState, measure: Callable[[], LagReport], warn: str | None, crit: str | None) -> None:
    """A Nagios plugin: one status line with perfdata, exit 0/1/2 by threshold, 3 (UNKNOWN) on any error."""
    from msgctl.render.lag import nagios, nagios_unknown

    try:
        thresholds = _thresholds(warn, crit)
        report = measure()
    except Exception as exc:  # anything that stops the measurement is UNKNOWN to Nagios, never a WARNING
        message = str(exc) if isinstance(exc, MsgctlError) else f"unexpected {type(exc).__name__}: {exc}"
        state.renderer.line(nagios_unknown(" ".join(message.split())))
        raise typer.Exit(STATUS_EXIT["UNKNOWN"]) from None
    status = thresholds.status(report)
    state.renderer.line(nagios(report, status, thresholds))
    raise typer.Exit(STATUS_EXIT[status])


def _stoppable(measure: Measure) -> LagReport:
    # Ctrl-C or SIGTERM stops a sweep between receives: one cut off mid-call could still take messages
    # after the release (the broker finishes the long poll), leaving them in flight for the whole --hold.
    with StopRequest().installed() as stop:
        report = measure(stop.requested)
    if stop.requested():
        raise KeyboardInterrupt
    return report


def _names(groups: str | None) -> list[str] | None:
    if groups is None:
        return None
    names = [name.strip() for name in groups.split(",") if name.strip()]
    if not names:
        raise UsageError("--groups names no group")
    return names


def _thresholds(warn: str | None, crit: str | None) -> Thresholds:
    thresholds = Thresholds(
        warn_s=parse_duration(warn).total_seconds() if warn else None,
        crit_s=parse_duration(crit).total_seconds() if crit else None,
    )
    if (
        thresholds.warn_s is not None
        and thresholds.crit_s is not None
        and thresholds.warn_s > thresholds.crit_s
    ):
        raise UsageError("--warn must not be above --crit")
    return thresholds
