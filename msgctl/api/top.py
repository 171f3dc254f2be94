"""top: every queue's depth, rates and health, sampled again and again.

Rates: ActiveMQ's from the statistics plugin's enqueue and dequeue counters between two samples; SQS's from
CloudWatch NumberOfMessagesSent and NumberOfMessagesDeleted (asked at most once a minute: CloudWatch's
period, and its price), else the change of depth between two samples, marked ``net``.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

from msgctl.address import Channel
from msgctl.api.health import ServiceGroup, measure_group, measured_or_unknown, open_backends, service_groups
from msgctl.backends.registry import Backends
from msgctl.core.health import Measure, Status, ThresholdRules, Thresholds, assess
from msgctl.core.parallel import parallel_map

SortKey = Literal["depth", "age", "rate-in", "rate-out", "dlq"]
SORT_KEYS: tuple[SortKey, ...] = ("depth", "age", "rate-in", "rate-out", "dlq")
CLOUDWATCH_EVERY_S = 60.0
SQS_METRICS = (
    ("age", "ApproximateAgeOfOldestMessage", "Maximum"),
    ("sent", "NumberOfMessagesSent", "Sum"),
    ("deleted", "NumberOfMessagesDeleted", "Sum"),
)


@dataclass(frozen=True)
class TopRow:
    """One channel in one sample."""

    t: float  # seconds since the epoch
    channel: str
    depth: int | None
    in_flight: int | None
    rate_in: float | None  # messages a second
    rate_out: float | None
    rates: Literal["counters", "cloudwatch", "net"] | None  # where the rates come from
    oldest_age_s: float | None
    dlq_depth: int | None
    consumers: int | None
    status: Status

    def to_json(self) -> dict[str, Any]:
        return {
            "t": round(self.t, 3),
            "channel": self.channel,
            "depth": self.depth,
            "in_flight": self.in_flight,
            "rate_in": _rounded(self.rate_in),
            "rate_out": _rounded(self.rate_out),
            "rates": self.rates,
            "oldest_age_s": self.oldest_age_s,
            "dlq_depth": self.dlq_depth,
            "consumers": self.consumers,
            "status": self.status,
        }


def sort_value(row: TopRow, key: SortKey) -> float:
    value = {
        "depth": row.depth,
        "age": row.oldest_age_s,
        "rate-in": row.rate_in,
        "rate-out": row.rate_out,
        "dlq": row.dlq_depth,
    }[key]
    return float(value) if value is not None else float("-inf")


class TopSampler:
    """Samples the channels again and again; each sample's rates come from the one before."""

    def __init__(
        self,
        backends: Backends,
        channels: list[Channel] | None,
        prefix: str | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        config = backends.settings.config
        self._rules = ThresholdRules.parse(config.check, f"config file {config.path}")
        self._backends, self._prefix, self._clock = backends, prefix, clock
        # SNS topics hold no messages: check looks at their subscriptions
        self._groups = [g for g in service_groups(backends, channels) if g.service != "sns"]
        for group in self._groups:  # opened here, not by the threads that measure them at once
            measured_or_unknown(group, functools.partial(open_backends, backends, group))
        self._before: dict[str, Measure] = {}
        self._cloudwatch: dict[str, dict[str, float]] = {}
        self._cloudwatch_at: float | None = None

    def sample(self) -> list[TopRow]:
        answers = parallel_map(self._measure, self._groups)
        measures = [measure for answer in answers for measure in answer]
        self._refresh_cloudwatch(measures)
        rows = [self._row(measure) for measure in measures]
        self._before = {measure.channel: measure for measure in measures if measure.error is None}
        return rows

    def _measure(self, group: ServiceGroup) -> list[Measure]:
        return measured_or_unknown(
            group, functools.partial(measure_group, self._backends, group, self._prefix, details=False)
        )

    def _refresh_cloudwatch(self, measures: list[Measure]) -> None:
        names = [
            m.channel.removeprefix("sqs:") for m in measures if m.channel.startswith("sqs:") and not m.error
        ]
        now = self._clock()
        due = self._cloudwatch_at is None or now - self._cloudwatch_at >= CLOUDWATCH_EVERY_S
        if not names or not due:
            return
        from msgctl.backends.sqs import METRIC_QUERIES_PER_CALL

        sqs = self._backends.sqs()
        batches = [
            names[i : i + METRIC_QUERIES_PER_CALL] for i in range(0, len(names), METRIC_QUERIES_PER_CALL)
        ]
        asks = [(key, metric, stat, batch) for key, metric, stat in SQS_METRICS for batch in batches]
        answers = parallel_map(lambda ask: (ask[0], sqs.metric_values(ask[3], ask[1], ask[2])), asks)
        found: dict[str, dict[str, float]] = {}
        for key, values in answers:
            for name, value in values.items():
                found.setdefault(name, {})[key] = value
        self._cloudwatch, self._cloudwatch_at = found, now

    def _row(self, measure: Measure) -> TopRow:
        measure = self._with_cloudwatch(measure)
        rate_in, rate_out, rates = self._rates(measure)
        health = assess(measure, self._rules, Thresholds())
        return TopRow(
            t=time.time(),
            channel=measure.channel,
            depth=measure.depth,
            in_flight=measure.in_flight,
            rate_in=rate_in,
            rate_out=rate_out,
            rates=rates,
            oldest_age_s=measure.oldest_age_s,
            dlq_depth=measure.dlq_depth,
            consumers=measure.consumers,
            status=health.status,
        )

    def _with_cloudwatch(self, measure: Measure) -> Measure:
        known = self._cloudwatch.get(measure.channel.removeprefix("sqs:"), {})
        if not measure.channel.startswith("sqs:") or not known:
            return measure
        sent, deleted = known.get("sent"), known.get("deleted")
        return replace(
            measure,
            oldest_age_s=known.get("age", measure.oldest_age_s),
            rate_in=sent / 60 if sent is not None else None,  # a Sum over CloudWatch's minute
            rate_out=deleted / 60 if deleted is not None else None,
        )

    def _rates(self, measure: Measure) -> tuple[float | None, float | None, Any]:
        before = self._before.get(measure.channel)
        if measure.enqueued is not None or measure.dequeued is not None:
            if before is None or measure.taken_at <= before.taken_at:
                return None, None, "counters"
            seconds = measure.taken_at - before.taken_at
            return (
                _change(before.enqueued, measure.enqueued, seconds),
                _change(before.dequeued, measure.dequeued, seconds),
                "counters",
            )
        if measure.rate_in is not None or measure.rate_out is not None:
            return measure.rate_in, measure.rate_out, "cloudwatch"
        if before is None or measure.taken_at <= before.taken_at or measure.kind != "queue":
            return None, None, "net" if measure.kind == "queue" else None
        net = _change(before.depth, measure.depth, measure.taken_at - before.taken_at, signed=True)
        return net, None, "net"


def _change(before: int | None, after: int | None, seconds: float, signed: bool = False) -> float | None:
    """Per second; a counter that went down (a broker restart) says nothing."""
    if before is None or after is None or seconds <= 0 or (after < before and not signed):
        return None
    return (after - before) / seconds


def _rounded(value: float | None) -> float | None:
    return round(value, 2) if value is not None else None
