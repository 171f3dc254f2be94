"""Channel health: what was measured of each channel, the thresholds that apply to it, and its status.

Thresholds come in layers, each key on its own: the built-in default (a DLQ holding anything is a warning),
the config file's ``[check]`` table, then its ``[check."PREFIX*"]`` tables (the longest prefix last), then a
``[check."CHANNEL"]`` table, then the channel's own ``msgctl:*`` tags, then the flags.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal

from msgctl.address import Kind
from msgctl.errors import UsageError

Status = Literal["ok", "warning", "critical", "unknown"]
# Worst last: a channel or a run takes its worst status. A check that could not be made is worse than a
# warning (nobody knows), a critical one is worst of all.
SEVERITY: dict[Status, int] = {"ok": 0, "warning": 1, "unknown": 2, "critical": 3}
EXIT_CODES: dict[Status, int] = {"ok": 0, "warning": 1, "critical": 2, "unknown": 3}  # as Nagios plugins
TAG_PREFIX = "msgctl:"


@dataclass(frozen=True)
class Thresholds:
    """Levels at or above which a value is a warning or critical (consumers: below the minimum)."""

    depth_warn: int | None = None
    depth_crit: int | None = None
    age_warn: float | None = None  # seconds
    age_crit: float | None = None
    dlq_warn: int | None = None
    dlq_crit: int | None = None
    consumers_min: int | None = None

    def over(self, layer: Thresholds) -> Thresholds:
        """These levels, each replaced by the layer's where the layer sets it."""
        return replace(self, **{k: v for k, v in _items(layer) if v is not None})

    def to_json(self) -> dict[str, Any]:
        return {key: value for key, value in _items(self) if value is not None}

    @classmethod
    def parse(cls, raw: Mapping[str, Any], where: str) -> Thresholds:
        """From ``depth-warn``-style keys (a config table, or tags without their prefix); the values are
        numbers or texts, ages durations (``90s``, ``15m``)."""
        levels: dict[str, Any] = {}
        for key, value in raw.items():
            name = key.replace("-", "_")
            if name not in THRESHOLD_NAMES:
                known = ", ".join(n.replace("_", "-") for n in THRESHOLD_NAMES)
                raise UsageError(f"{where}: unknown threshold {key!r} (known: {known})")
            levels[name] = _level(name, value, f"{where}: {key}")
        return cls(**levels)


THRESHOLD_NAMES = tuple(f.name for f in fields(Thresholds))
DEFAULTS = Thresholds(dlq_warn=1)  # a DLQ holding anything deserves a look


def _items(thresholds: Thresholds) -> Iterable[tuple[str, Any]]:
    return ((name, getattr(thresholds, name)) for name in THRESHOLD_NAMES)


def _level(name: str, value: Any, where: str) -> float | int:
    if isinstance(value, bool):
        raise UsageError(f"{where} must be a number, not {value}")
    if name.startswith("age_"):
        if isinstance(value, int | float):
            seconds = float(value)
        elif isinstance(value, str):
            from msgctl.core.tail import parse_duration  # (tail's module is heavy: imported when needed)

            seconds = parse_duration(value).total_seconds()
        else:
            raise UsageError(f"{where} must be a duration such as 90s or 15m")
        if not math.isfinite(seconds) or seconds < 0:
            raise UsageError(f"{where} must be a duration of 0 or more")
        return seconds
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int) or value < 0:
        raise UsageError(f"{where} must be a whole number of messages, at least 0")
    return value


@dataclass(frozen=True)
class ThresholdRules:
    """The config file's thresholds: defaults, by channel name prefix (``sqs:orders-*``), by channel."""

    defaults: Thresholds = field(default_factory=Thresholds)
    prefixes: tuple[tuple[str, Thresholds], ...] = ()  # shortest prefix first
    channels: Mapping[str, Thresholds] = field(default_factory=dict)

    @classmethod
    def parse(cls, table: Mapping[str, Any], where: str) -> ThresholdRules:
        """The ``[check]`` table: threshold keys, and a sub-table per channel or ``PREFIX*``."""
        levels = {k: v for k, v in table.items() if not isinstance(v, dict)}
        prefixes: list[tuple[str, Thresholds]] = []
        channels: dict[str, Thresholds] = {}
        for name, sub in table.items():
            if not isinstance(sub, dict):
                continue
            parsed = Thresholds.parse(sub, f'{where} [check."{name}"]')
            if name.endswith("*"):
                prefixes.append((name[:-1], parsed))
            else:
                channels[name] = parsed
        prefixes.sort(key=lambda pair: len(pair[0]))
        return cls(Thresholds.parse(levels, f"{where} [check]"), tuple(prefixes), channels)

    def for_channel(self, channel: str) -> Thresholds:
        found = self.defaults
        for prefix, levels in self.prefixes:
            if channel.startswith(prefix):
                found = found.over(levels)
        if channel in self.channels:
            found = found.over(self.channels[channel])
        return found


def tag_thresholds(tags: Mapping[str, str], channel: str) -> tuple[Thresholds, list[str]]:
    """The ``msgctl:depth-warn=1000``-style tags of a channel (other tags are not msgctl's), and what is
    wrong with those that cannot be read (each left out)."""
    levels, problems = Thresholds(), []
    for key, value in tags.items():
        name = key.removeprefix(TAG_PREFIX)
        if not key.startswith(TAG_PREFIX) or name.replace("-", "_") not in THRESHOLD_NAMES:
            continue
        try:
            levels = levels.over(Thresholds.parse({name: value}, f"{channel}: tag"))
        except UsageError as exc:
            problems.append(exc.message)
    return levels, problems


@dataclass(frozen=True)
class Measure:
    """What was read of one channel; None where the broker does not tell (``notes`` may say why, by the
    name of the check: ``{"oldest_age_s": "CloudWatch has no ..."}``)."""

    channel: str
    kind: Kind
    depth: int | None = None
    in_flight: int | None = None
    oldest_age_s: float | None = None
    dlq: str | None = None  # where its dead letters go
    dlq_depth: int | None = None  # how many are there (for a DLQ: its own depth)
    is_dlq: bool = False
    dlq_shared: bool = False  # the DLQ is the broker's one for every queue (ActiveMQ.DLQ)
    consumers: int | None = None
    subscription_problems: tuple[str, ...] | None = None  # SNS: subscriptions pending or pointing nowhere
    broken_subscriptions: int = 0  # of those, the ones that lose messages (their queue is gone)
    move_task_failure: str | None = None  # the last native move task out of this DLQ failed
    enqueued: int | None = None  # counters since the broker started (ActiveMQ): top's rates
    dequeued: int | None = None
    rate_in: float | None = None  # messages a second, where the broker tells (CloudWatch for SQS)
    rate_out: float | None = None
    taken_at: float = 0.0  # time.monotonic() when the counters were read
    tags: Mapping[str, str] = field(default_factory=dict)
    notes: Mapping[str, str] = field(default_factory=dict)
    error: str | None = None  # the channel could not be read at all


@dataclass(frozen=True)
class Check:
    name: str
    value: Any
    status: Status
    warn: Any = None
    crit: Any = None
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        found = {
            "name": self.name,
            "value": self.value,
            "warn": self.warn,
            "crit": self.crit,
            "status": self.status,
        }
        return found | ({"note": self.note} if self.note else {})


@dataclass(frozen=True)
class ChannelHealth:
    channel: str
    status: Status
    checks: list[Check]
    measure: Measure

    def to_json(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "status": self.status,
            "checks": [check.to_json() for check in self.checks],
        }


def worst(statuses: Iterable[Status]) -> Status:
    return max(statuses, key=SEVERITY.__getitem__, default="ok")


def assess(measure: Measure, rules: ThresholdRules, flags: Thresholds) -> ChannelHealth:
    """The channel's checks against its thresholds (defaults, config, tags, flags)."""
    if measure.error is not None:
        check = Check("reachable", None, "unknown", note=measure.error)
        return ChannelHealth(measure.channel, "unknown", [check], measure)
    tagged, problems = tag_thresholds(measure.tags, measure.channel)
    levels = DEFAULTS.over(rules.for_channel(measure.channel)).over(tagged).over(flags)
    checks = _checks(measure, levels)
    if problems:  # the other levels still hold: the checks stand, and this one says a level is missing
        checks.append(Check("thresholds", None, "unknown", note="; ".join(problems)))
    elif "tags" in measure.notes:
        checks.append(Check("thresholds", None, "ok", note=measure.notes["tags"]))
    return ChannelHealth(measure.channel, worst(c.status for c in checks), checks, measure)


def _checks(measure: Measure, levels: Thresholds) -> list[Check]:
    checks: list[Check] = []
    if measure.kind == "queue" and not measure.is_dlq:
        checks.append(_at_least("depth", measure.depth, levels.depth_warn, levels.depth_crit))
        checks.append(_age(measure, levels))
    if measure.dlq_shared:  # a broker-wide DLQ's depth is not this queue's: its own entry checks it
        shared = f"in {measure.dlq}, shared by every queue without a DLQ of its own: checked there"
        checks.append(Check("dlq_depth", measure.dlq_depth, "ok", note=shared))
    elif measure.is_dlq or measure.dlq is not None:
        dlq = _at_least("dlq_depth", measure.dlq_depth, levels.dlq_warn, levels.dlq_crit)
        note = measure.notes.get(dlq.name) or (f"in {measure.dlq}" if measure.dlq else None)
        checks.append(replace(dlq, note=note))
    if measure.consumers is not None and not measure.is_dlq:  # (SQS and SNS do not count consumers)
        checks.append(_consumers(measure.consumers, levels.consumers_min))
    if measure.subscription_problems is not None:
        checks.append(_subscriptions(measure))
    if measure.is_dlq and measure.move_task_failure is not None:
        checks.append(Check("move_task", "FAILED", "warning", note=measure.move_task_failure))
    return checks


def _at_least(name: str, value: float | None, warn: float | None, crit: float | None) -> Check:
    if value is None:
        status: Status = "unknown" if warn is not None or crit is not None else "ok"
    elif crit is not None and value >= crit:
        status = "critical"
    elif warn is not None and value >= warn:
        status = "warning"
    else:
        status = "ok"
    return Check(name, value, status, warn, crit)


def _age(measure: Measure, levels: Thresholds) -> Check:
    if measure.oldest_age_s is None and measure.depth == 0 and not measure.in_flight:
        return Check("oldest_age_s", None, "ok", levels.age_warn, levels.age_crit, note="empty")
    age = _at_least("oldest_age_s", measure.oldest_age_s, levels.age_warn, levels.age_crit)
    if measure.oldest_age_s is None:
        return replace(age, note=measure.notes.get(age.name, "unknown"))
    return age


def _consumers(consumers: int, minimum: int | None) -> Check:
    # A minimum has one level: below it too few consume, and messages pile up.
    failing = minimum is not None and consumers < minimum
    return Check("consumers", consumers, "critical" if failing else "ok", crit=minimum)


def _subscriptions(measure: Measure) -> Check:
    problems = measure.subscription_problems or ()
    status: Status = "critical" if measure.broken_subscriptions else "warning" if problems else "ok"
    return Check("subscriptions", len(problems), status, note="; ".join(problems) or None)
