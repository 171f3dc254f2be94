"""Per-group FIFO lag: which message groups are behind or blocked, and how sure the measurement is.

A backend measures (an SQS receive sweep, an ActiveMQ browse) and hands over what it saw of each group; this
module turns that into per-group rows, sorts them, and judges them against thresholds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

GroupState = Literal["waiting", "blocked", "in-flight"]
Status = Literal["OK", "WARNING", "CRITICAL", "UNKNOWN"]
STATUS_EXIT = {"OK": 0, "WARNING": 1, "CRITICAL": 2, "UNKNOWN": 3}


@dataclass(frozen=True)
class Seen:
    """One message the measurement saw, in the order the broker handed it out."""

    group: str
    sent_ms: int | None
    receives_before: int | None  # None where the broker does not count deliveries
    receives_by_others: int | None = None  # receives_before less msgctl's own sweeps, where known


@dataclass(frozen=True)
class GroupLag:
    group: str
    oldest_age_s: float | None
    count: int
    count_is_lower_bound: bool
    head_receive_count: int | None  # receives before this measurement, msgctl's own sweeps included
    state: GroupState  # blocked: the head was received before, by something other than a sweep

    def to_json(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "oldest_age_s": self.oldest_age_s,
            "count": self.count,
            "count_is_lower_bound": self.count_is_lower_bound,
            "head_receive_count": self.head_receive_count,
            "state": self.state,
        }


@dataclass
class LagReport:
    channel: str
    groups: list[GroupLag]
    queue: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def oldest_age_s(self) -> float | None:
        ages = [g.oldest_age_s for g in self.groups if g.oldest_age_s is not None]
        return max(ages) if ages else None

    def to_json(self) -> dict[str, Any]:
        return {"channel": self.channel, "groups": [g.to_json() for g in self.groups], "queue": self.queue}


class LagSource(Protocol):
    def measure(self, stop_requested: Callable[[], bool] = lambda: False) -> LagReport:
        """Measure once; a measurement that receives checks ``stop_requested`` between receives."""
        ...

    def can_measure_again(self) -> None:
        """--watch: raise when another measurement would do harm (push messages toward the DLQ)."""


def group_rows(seen: Iterable[Seen], cut_groups: set[str], now_ms: float | None = None) -> list[GroupLag]:
    """One row per group, in the order first seen. ``cut_groups``: those that may have more than was seen."""
    now_ms = time.time() * 1000 if now_ms is None else now_ms
    by_group: dict[str, list[Seen]] = {}
    for message in seen:
        by_group.setdefault(message.group, []).append(message)
    rows = []
    for group, messages in by_group.items():
        head = messages[0]
        sent = [m.sent_ms for m in messages if m.sent_ms is not None]
        receives = head.receives_before
        by_others = head.receives_by_others if head.receives_by_others is not None else receives
        rows.append(
            GroupLag(
                group=group,
                oldest_age_s=round(max(0.0, (now_ms - min(sent)) / 1000), 3) if sent else None,
                count=len(messages),
                count_is_lower_bound=group in cut_groups,
                head_receive_count=receives,
                state="blocked" if by_others else "waiting",
            )
        )
    return rows


def cut_from_batches(batches: list[tuple[int, list[Seen]]], nothing_left_visible: bool) -> set[str]:
    """The groups an SQS sweep may not have seen whole. SQS hands out as many messages of one group as it
    can before the next group, so only the last group of a full batch may have been cut short; a group seen
    scattered (an emulator that does not) proves nothing. When nothing was left visible, all were seen.
    ``batches``: (how many the receive asked for, what it returned)."""
    if nothing_left_visible:
        return set()
    met: set[str] = set()
    cut: set[str] = set()
    for asked, batch in batches:
        groups = [m.group for m in batch]
        for group in dict.fromkeys(groups):
            contiguous = len(groups) - groups[::-1].index(group) - groups.index(group) == groups.count(group)
            if group in met or not contiguous:
                cut.add(group)
            met.add(group)
        if len(batch) >= asked and groups:
            cut.add(groups[-1])
    return cut


def select(rows: list[GroupLag], wanted: list[str] | None, top: int | None, in_flight: int) -> list[GroupLag]:
    """Rows sorted by head age (oldest first); named groups not seen are ``in-flight`` when messages were
    in flight (a FIFO queue hides a group behind its in-flight message), else left out (empty)."""
    if wanted is not None:
        by_name = {row.group: row for row in rows}
        rows = [by_name[name] for name in wanted if name in by_name]
        if in_flight:
            rows += [
                GroupLag(name, None, 0, True, None, "in-flight") for name in wanted if name not in by_name
            ]
    rows.sort(key=lambda row: (row.oldest_age_s is None, -(row.oldest_age_s or 0.0), row.group))
    return rows[:top] if top is not None else rows


@dataclass(frozen=True)
class Thresholds:
    warn_s: float | None = None
    crit_s: float | None = None

    def status(self, report: LagReport) -> Status:
        age = report.oldest_age_s
        if age is None:
            return "OK"
        if self.crit_s is not None and age >= self.crit_s:
            return "CRITICAL"
        if self.warn_s is not None and age >= self.warn_s:
            return "WARNING"
        return "OK"
