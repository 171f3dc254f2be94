"""ActiveMQ message-group lag by browsing, which consumes nothing. STOMP never returns JMSXGroupID on a
delivered message, but a selector can match it: named groups are counted exactly with one selector browse
each; otherwise a browse is grouped by a property the producers set (msgctl sets msgctl_group)."""

from __future__ import annotations

from collections.abc import Callable

from msgctl.address import Channel
from msgctl.backends.activemq import BROWSE_CAP, ActiveMqBackend
from msgctl.backends.stomp_session import Frame
from msgctl.core.fifo_lag import LagReport, Seen, group_rows
from msgctl.errors import UsageError

DEFAULT_GROUP_PROPERTY = "msgctl_group"


class ActiveMqGroupBrowse:
    def __init__(
        self, backend: ActiveMqBackend, channel: Channel, groups: list[str] | None, group_property: str | None
    ) -> None:
        if channel.kind != "queue":
            raise UsageError(f"{channel} is a topic: message groups are measured on queues")
        self.backend, self.channel, self.groups = backend, channel, groups
        self.group_property = group_property or DEFAULT_GROUP_PROPERTY
        self.without_property = 0  # of the last browse by property

    def measure(self, stop_requested: Callable[[], bool] = lambda: False) -> LagReport:
        stats = self.backend.stats(self.channel).summary
        if self.groups is not None:
            seen, capped = self._by_selector(self.groups)
            how = "counted with a JMSXGroupID selector each"
            if (stats.depth or 0) > BROWSE_CAP:  # the broker selects among the messages it paged in
                capped |= set(self.groups)
        else:
            seen, capped = self._by_property()
            how = f"grouped by the property {self.group_property}"
        report = LagReport(
            channel=str(self.channel),
            groups=group_rows([s for group in seen for s in group], capped),
        )
        report.queue = {
            "depth": stats.depth,
            "in_flight": stats.in_flight,
            "measured": how,
            "browse_cap": BROWSE_CAP,
            "browse_cap_reached": sorted(capped),
        }
        if self.without_property:
            report.notes.append(
                f"{self.without_property} messages lack the {self.group_property} property: not counted"
            )
        if capped:
            report.notes.append(
                f"the broker browses at most {BROWSE_CAP} messages: counts of {', '.join(sorted(capped))} "
                "are lower bounds"
            )
        return report

    def can_measure_again(self) -> None:
        """A browse consumes nothing and counts no delivery."""

    def _by_selector(self, groups: list[str]) -> tuple[list[list[Seen]], set[str]]:
        seen, capped = [], set()
        for group in groups:
            selector = "JMSXGroupID = '" + group.replace("'", "''") + "'"
            frames = list(self.backend.session.browse(self.channel.name, selector))
            seen.append([_seen(group, frame) for frame in frames])
            if len(frames) >= BROWSE_CAP:
                capped.add(group)
        return seen, capped

    def _by_property(self) -> tuple[list[list[Seen]], set[str]]:
        frames = list(self.backend.session.browse(self.channel.name))
        seen = [_seen(f.headers[self.group_property], f) for f in frames if self.group_property in f.headers]
        self.without_property = len(frames) - len(seen)
        if len(frames) >= BROWSE_CAP:  # any group may have more behind the cap
            return [seen], {s.group for s in seen}
        return [seen], set()


def _seen(group: str, frame: Frame) -> Seen:
    timestamp = frame.headers.get("timestamp", "")
    return Seen(
        group=group,
        sent_ms=int(timestamp) if timestamp.isdigit() else None,
        receives_before=1 if frame.headers.get("redelivered") == "true" else 0,  # at least, when redelivered
    )
