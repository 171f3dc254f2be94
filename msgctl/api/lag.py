"""FIFO lag: which message groups are behind or blocked, on SQS FIFO queues and ActiveMQ message groups."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from msgctl.address import Channel
from msgctl.api.convert import channel_of
from msgctl.core.fifo_lag import LagReport, LagSource, select

if TYPE_CHECKING:
    from msgctl.backends.registry import Backends


class LagMeter:
    """One channel's groups, measured once or again and again (a live view) by the same source, which
    remembers what its last measurement left behind (an SQS sweep's receives)."""

    def __init__(self, source: LagSource, groups: list[str] | None, top: int | None) -> None:
        self.source, self.groups, self.top = source, groups, top

    def measure(self, stop_requested: Callable[[], bool] = lambda: False, again: bool = False) -> LagReport:
        """Rows sorted by head age, oldest first. ``again``: refuse a measurement that would do harm (push
        messages toward the DLQ). A measurement that receives checks ``stop_requested`` between receives
        and returns what it saw."""
        if again:
            self.source.can_measure_again()
        report = self.source.measure(stop_requested)
        in_flight = report.queue.get("in_flight_in_uninspected_groups") or 0
        report.groups = select(report.groups, self.groups, self.top, in_flight)
        return report


def lag_meter(
    backends: Backends,
    channel: Channel | str,
    hold: int,
    sample: int,
    groups: list[str] | None = None,
    *,
    group_property: str | None = None,
    top: int | None = None,
    force: bool = False,
) -> LagMeter:
    """SQS FIFO: a receive sweep of at most ``sample`` messages, each held ``hold`` seconds then released
    (``force``: even where that leaves messages one receive from the DLQ). ActiveMQ: a browse, grouped by
    ``group_property`` (default msgctl_group), or one JMSXGroupID selector per name in ``groups``.
    ``groups``: only these; ``top``: the K groups with the oldest heads."""
    address = channel_of(channel)
    source = backends.lag_source(address, sample, hold, groups, group_property, force)
    return LagMeter(source, groups, top)
