"""fifo lag output: Nagios plugin lines, Prometheus text exposition, and the live --watch table."""

from __future__ import annotations

import time
from collections.abc import Callable

from msgctl.core.fifo_lag import GroupLag, LagReport, Status, Thresholds
from msgctl.render import Renderer, _cell
from msgctl.render.monitoring import label_value, number, perf_label

GROUP_COLUMNS = ("group", "oldest_age_s", "count", "count_is_lower_bound", "head_receive_count", "state")


def nagios(report: LagReport, status: Status, thresholds: Thresholds) -> str:
    """``STATUS: summary | perfdata``: the oldest head age with warn/crit, then each group's."""
    oldest = report.oldest_age_s
    blocked = [g.group for g in report.groups if g.state == "blocked"]
    summary = f"{report.channel} oldest group head {_age(oldest)} over {len(report.groups)} groups"
    if blocked:
        summary += f", blocked: {', '.join(blocked[:5])}" + (" ..." if len(blocked) > 5 else "")
    summary += "".join(f"; {' '.join(note.split())}" for note in report.notes)
    levels = f"{_threshold(thresholds.warn_s)};{_threshold(thresholds.crit_s)}"
    perfdata = [f"oldest_age={number(oldest)}s;{levels};0", f"groups={len(report.groups)};;;0"]
    for group in report.groups:
        label = perf_label(group.group)
        perfdata.append(f"'{label}_age'={number(group.oldest_age_s)}s;{levels};0")
        perfdata.append(f"'{label}_count'={group.count};;;0")
    return f"{status}: {summary} | {' '.join(perfdata)}"


def nagios_unknown(message: str) -> str:
    return f"UNKNOWN: {message}"


def prometheus(report: LagReport) -> str:
    """Gauges per group (age, count, lower bound, blocked) and the queue-level counts, text format 0.0.4."""
    channel = label_value(report.channel)
    lines: list[str] = []

    def gauge(name: str, help_text: str, samples: list[tuple[str, float | int | None]]) -> None:
        lines.append(f"# HELP msgctl_fifo_{name} {help_text}")
        lines.append(f"# TYPE msgctl_fifo_{name} gauge")
        lines.extend(f"msgctl_fifo_{name}{{{labels}}} {number(value, 'NaN')}" for labels, value in samples)

    def per_group(value: Callable[[GroupLag], float | int | None]) -> list[tuple[str, float | int | None]]:
        return [(f'channel="{channel}",group="{label_value(g.group)}"', value(g)) for g in report.groups]

    gauge(
        "group_oldest_age_seconds",
        "Age of the head message of the group.",
        per_group(lambda g: g.oldest_age_s),
    )
    gauge("group_messages", "Messages of the group seen.", per_group(lambda g: g.count))
    gauge(
        "group_count_is_lower_bound",
        "1 when the group may hold more messages than seen.",
        per_group(lambda g: int(g.count_is_lower_bound)),
    )
    gauge(
        "group_blocked",
        "1 when the head was received before and is still there.",
        per_group(lambda g: int(g.state == "blocked")),
    )
    numbers = [
        (k, v) for k, v in report.queue.items() if isinstance(v, int | float) and not isinstance(v, bool)
    ]
    for key, value in numbers:
        gauge(f"queue_{key}", f"Queue-level {key.replace('_', ' ')}.", [(f'channel="{channel}"', value)])
    return "\n".join(lines) + "\n"


def watch(renderer: Renderer, measure: Callable[[], LagReport], interval_s: float, top: int | None) -> None:
    """Redraw the group table every ``interval_s`` until Ctrl-C (exit 130, as every interrupt)."""
    from rich.console import Console
    from rich.live import Live
    from rich.table import Table

    console = Console(file=renderer.stdout, no_color=not renderer.color, emoji=False, highlight=False)

    def table(report: LagReport) -> Table:
        shown = report.groups[:top] if top else report.groups
        grid = Table(
            title=f"{report.channel} at {time.strftime('%H:%M:%S')}", caption="; ".join(report.notes)
        )
        for column in GROUP_COLUMNS:
            grid.add_column(column.upper())
        for group in shown:
            grid.add_row(*(_cell(value) for value in group.to_json().values()))
        return grid

    with Live(table(measure()), console=console, auto_refresh=False) as live:
        while True:
            time.sleep(interval_s)
            live.update(table(measure()), refresh=True)


def _age(seconds: float | None) -> str:
    return "unknown" if seconds is None else f"{seconds:.1f}s"


def _threshold(seconds: float | None) -> str:
    return "" if seconds is None else f"{seconds:g}"
