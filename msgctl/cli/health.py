"""check: the health of every channel at a glance, for alerting (Nagios, Prometheus) and for eyes."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from msgctl.address import Channel, parse_channel
from msgctl.cli.options import LagOutputOption
from msgctl.cli.state import AppState, get_state
from msgctl.core.health import EXIT_CODES
from msgctl.errors import MsgctlError, UsageError

if TYPE_CHECKING:
    from msgctl.api.health import HealthReport


def check(
    ctx: typer.Context,
    channels: Annotated[
        list[str] | None,
        typer.Argument(help="Channels to check. None (or --all): every queue and topic msgctl can list."),
    ] = None,
    every: Annotated[
        bool, typer.Option("--all", help="Every queue and topic of SQS, SNS and the broker (the default).")
    ] = False,
    prefix: Annotated[str | None, typer.Option(help="Only channels whose name starts with this.")] = None,
    depth_warn: Annotated[int | None, typer.Option(help="Warn at this many messages waiting.", min=0)] = None,
    depth_crit: Annotated[
        int | None, typer.Option(help="Critical at this many messages waiting.", min=0)
    ] = None,
    age_warn: Annotated[
        str | None, typer.Option(help="Warn when the oldest message is this old: 90s, 5m, 2h.")
    ] = None,
    age_crit: Annotated[
        str | None, typer.Option(help="Critical when the oldest message is this old.")
    ] = None,
    dlq_warn: Annotated[
        int | None, typer.Option(help="Warn at this many dead letters (default 1: any).", min=0)
    ] = None,
    dlq_crit: Annotated[int | None, typer.Option(help="Critical at this many dead letters.", min=0)] = None,
    consumers_min: Annotated[
        int | None,
        typer.Option(
            help="Critical below this many consumers (ActiveMQ queues: SQS does not count them).", min=0
        ),
    ] = None,
    peek: Annotated[
        bool,
        typer.Option(
            "--peek",
            help="SQS: where CloudWatch has no age, read the first messages as tail does (held, then "
            "released; refused where a receive would bring a message near its DLQ).",
        ),
    ] = False,
    output: LagOutputOption = None,
) -> None:
    """Check every channel's health: depth, oldest message age, dead letters, consumers, subscriptions.

    Each channel is ok, warning, critical or unknown (could not be read); the exit code is the worst
    status's, as a Nagios plugin's: 0 ok, 1 warning, 2 critical, 3 unknown (-o prometheus: 0, the status
    is in msgctl_check_status). Thresholds come from the flags, else the channel's tags
    (msgctl:depth-warn=1000, msgctl:age-crit=15m), else the config file's [check] tables; a DLQ holding
    any message is a warning unless told otherwise.

    Cost: SQS, one GetQueueAttributes and one ListQueueTags a queue; for the queues that hold messages,
    one CloudWatch GetMetricData a 500 (the age of the oldest message; unknown where CloudWatch has none),
    one ListMessageMoveTasks a DLQ, and with --prefix or named queues one ListDeadLetterSourceQueues
    (whether it is a DLQ). SNS, the subscriptions and tags of each topic, and the attributes of each HTTP
    or e-mail subscription. ActiveMQ, two statistics requests and a browse of each queue's head. Requests
    run in parallel (MSGCTL_READ_WORKERS, default 8). Nothing is received or consumed, unless --peek:
    then one receive of up to 10 messages a queue without a CloudWatch age.

    Example:

        msgctl check --prefix orders --age-crit 15m -o nagios
    """
    state = get_state(ctx)

    def measured() -> HealthReport:
        for low, high, name in ((depth_warn, depth_crit, "depth"), (dlq_warn, dlq_crit, "dlq")):
            _ordered(low, high, name)
        _ordered(_seconds(age_warn), _seconds(age_crit), "age")
        return state.client.check(
            _named(channels, every),
            prefix,
            depth_warn=depth_warn,
            depth_crit=depth_crit,
            age_warn=age_warn,
            age_crit=age_crit,
            dlq_warn=dlq_warn,
            dlq_crit=dlq_crit,
            consumers_min=consumers_min,
            peek=peek,
        )

    chosen = output or "table"
    if chosen == "nagios":
        _nagios(state, measured)
    renderer = state.renderer
    try:
        report = measured()
    except Exception as exc:  # a check that cannot run is UNKNOWN (3) in every format, not a CRITICAL (2)
        renderer.error(_reason(exc))
        raise typer.Exit(EXIT_CODES["unknown"]) from None
    if chosen == "prometheus":
        from msgctl.render.health import prometheus

        renderer.line(prometheus(report).rstrip("\n"))
        return  # a scrape's file is written whatever the status: msgctl_check_status carries it
    elif chosen in ("json", "ndjson"):
        renderer.records(report.to_json(), ())
    else:
        from msgctl.render.health import table

        table(renderer, report)
    raise typer.Exit(report.exit_code)


def _named(channels: list[str] | None, every: bool) -> list[Channel] | None:
    if channels and every:
        raise UsageError("give channels or --all, not both")
    return [parse_channel(channel) for channel in channels] if channels else None


def _seconds(duration: str | None) -> float | None:
    from msgctl.core.tail import parse_duration

    return parse_duration(duration).total_seconds() if duration is not None else None


def _ordered(warn: float | None, crit: float | None, name: str) -> None:
    if warn is not None and crit is not None and warn > crit:
        raise UsageError(f"--{name}-warn is above --{name}-crit: a warning comes before the critical level")


def _nagios(state: AppState, measured: Callable[[], HealthReport]) -> NoReturn:
    """A Nagios plugin: one status line with perfdata, exit 0/1/2/3; any error is UNKNOWN (3)."""
    from msgctl.render.health import nagios

    try:
        report = measured()
    except Exception as exc:  # anything that stops the check is UNKNOWN to Nagios, never a WARNING
        state.renderer.line(f"MSGCTL UNKNOWN - {' '.join(_reason(exc).split())}")
        raise typer.Exit(EXIT_CODES["unknown"]) from None
    state.renderer.line(nagios(report))
    raise typer.Exit(report.exit_code)


def _reason(exc: Exception) -> str:
    return str(exc) if isinstance(exc, MsgctlError) else f"unexpected {type(exc).__name__}: {exc}"
