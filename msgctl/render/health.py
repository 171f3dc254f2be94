"""check's output: a table worst first, a Nagios plugin line, the Prometheus text exposition format."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from msgctl.api.health import HealthReport
from msgctl.core.health import EXIT_CODES, SEVERITY, ChannelHealth, Check, Status
from msgctl.render import Renderer, _cell
from msgctl.render.monitoring import label_value, number, perf_label

COLUMNS = ("channel", "status", "depth", "in_flight", "oldest_age_s", "dlq_depth", "consumers", "problems")
STYLES: dict[Status, str | None] = {
    "ok": None,
    "warning": "yellow",
    "critical": "bold red",
    "unknown": "magenta",
}


def table(renderer: Renderer, report: HealthReport) -> None:
    rows = [_row(health) for health in report.channels]
    renderer.records(rows, COLUMNS, styles=[STYLES[health.status] for health in report.channels])


def _row(health: ChannelHealth) -> dict[str, Any]:
    measure = health.measure
    return {
        "channel": health.channel,
        "status": health.status.upper(),
        "depth": measure.depth,
        "in_flight": measure.in_flight,
        "oldest_age_s": measure.oldest_age_s,
        "dlq_depth": measure.dlq_depth,
        "consumers": measure.consumers,
        "problems": "; ".join(_problem(check) for check in health.checks if check.status != "ok") or None,
    }


def _problem(check: Check) -> str:
    """``dlq_depth 3 >= 1 (crit)``, ``consumers 0 < 1``, or the check's note."""
    if check.value is None or check.name in ("subscriptions", "move_task"):
        return f"{check.name}: {check.note or 'unknown'}"
    if check.name == "consumers":
        return f"consumers {_cell(check.value)} < {check.crit}"
    level = check.crit if check.status == "critical" else check.warn
    return f"{check.name} {_cell(check.value)} >= {_cell(level)}"


def nagios(report: HealthReport) -> str:
    """``MSGCTL CRITICAL - 1 critical, 2 warning, 40 ok: <the problems, worst first> | perfdata``."""
    counts = report.counts()
    summary = ", ".join(f"{counts[s]} {s}" for s in sorted(counts, key=SEVERITY.__getitem__, reverse=True))
    problems = [
        f"{health.channel} {_problem(check)}"
        for health in report.channels
        for check in health.checks
        if check.status != "ok"
    ]
    text = f"MSGCTL {report.status.upper()} - {summary or 'no channels'}"
    if problems:
        text += ": " + "; ".join(" ".join(p.split()) for p in problems)
    perfdata = [item for health in report.channels for item in _perfdata(health)]
    return text.replace("|", "/") + (" | " + " ".join(perfdata) if perfdata else "")


def _perfdata(health: ChannelHealth) -> list[str]:
    """``'label'=value[unit];warn;crit;min`` for each numeric check (Nagios plugin guidelines)."""
    found = []
    for check in health.checks:
        if not isinstance(check.value, int | float) or isinstance(check.value, bool):
            continue
        unit = "s" if check.name == "oldest_age_s" else ""
        label = perf_label(f"{health.channel} {check.name}").replace("|", "_")
        if check.name == "consumers":  # too few: Nagios's range "N:" alerts below N
            levels = f";{'' if check.crit is None else f'{check.crit}:'}"
        else:
            levels = f"{_level(check.warn)};{_level(check.crit)}"
        found.append(f"'{label}'={number(check.value)}{unit};{levels};0")
    return found


def _level(value: Any) -> str:
    """A Nagios range "N" alerts above N; msgctl's level alerts at N and above: a count's range is N - 1."""
    if value is None:
        return ""
    return str(value - 1) if isinstance(value, int) else number(value)


GAUGES: tuple[tuple[str, str, Callable[[ChannelHealth], float | int | None]], ...] = (
    ("msgctl_depth", "Messages waiting in the channel.", lambda h: h.measure.depth),
    (
        "msgctl_in_flight",
        "Messages received and not yet deleted or acknowledged.",
        lambda h: h.measure.in_flight,
    ),
    ("msgctl_oldest_age_seconds", "Age of the oldest message waiting.", lambda h: h.measure.oldest_age_s),
    ("msgctl_dlq_depth", "Messages in the channel's dead-letter queue.", lambda h: h.measure.dlq_depth),
    ("msgctl_consumers", "Consumers connected to the channel.", lambda h: h.measure.consumers),
    (
        "msgctl_check_status",
        "The channel's check status: 0 ok, 1 warning, 2 critical, 3 unknown.",
        lambda h: EXIT_CODES[h.status],
    ),
)


def prometheus(report: HealthReport) -> str:
    """Gauges labelled ``channel``, with HELP and TYPE lines (text format 0.0.4); a value the broker does
    not tell is left out rather than given as 0."""
    lines: list[str] = []
    for name, help_text, value_of in GAUGES:
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
        for health in report.channels:
            value = value_of(health)
            if value is not None:
                lines.append(f'{name}{{channel="{label_value(health.channel)}"}} {number(value)}')
    return "\n".join(lines) + "\n"
