"""check: every channel's health on every broker, measured once and assessed against its thresholds."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from msgctl.address import Channel, Service, parse_channel
from msgctl.backends.registry import Backends
from msgctl.core.health import (
    EXIT_CODES,
    SEVERITY,
    ChannelHealth,
    Measure,
    Status,
    ThresholdRules,
    Thresholds,
    assess,
    worst,
)
from msgctl.core.parallel import parallel_map
from msgctl.errors import MsgctlError

PEEK_MESSAGES = 10  # one receive's worth


@dataclass
class HealthReport:
    """Each channel's health, worst first; ``status`` is the worst of them, ``exit_code`` Nagios's."""

    channels: list[ChannelHealth]

    @property
    def status(self) -> Status:
        return worst(health.status for health in self.channels)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]

    def counts(self) -> dict[Status, int]:
        found: dict[Status, int] = {}
        for health in self.channels:
            found[health.status] = found.get(health.status, 0) + 1
        return found

    def to_json(self) -> list[dict[str, Any]]:
        return [health.to_json() for health in self.channels]


def check_health(
    backends: Backends,
    channels: list[Channel] | None,
    prefix: str | None,
    flags: Thresholds,
    peek: bool = False,
) -> HealthReport:
    """The named channels, or (None) every queue and topic of SQS, SNS and the broker when one is set.
    A broker or service that cannot be read is one UNKNOWN entry (each named channel of it, when named).
    ``peek``: an SQS queue whose age CloudWatch does not tell has its first messages read by tail's rules
    (held, then released; refused where a receive would bring a message near its DLQ)."""
    config = backends.settings.config
    rules = ThresholdRules.parse(config.check, f"config file {config.path}")
    ready: list[ServiceGroup] = []
    measures: list[Measure] = []
    for group in service_groups(backends, channels):
        failed = measured_or_unknown(group, functools.partial(open_backends, backends, group))
        measures += failed
        if not failed:
            ready.append(group)
    answers = parallel_map(  # SQS, SNS and the broker are asked at once
        lambda group: measured_or_unknown(group, functools.partial(measure_group, backends, group, prefix)),
        ready,
    )
    measures += [measure for answer in answers for measure in answer]
    measures = list({m.channel: m for m in measures}.values())  # a channel named twice is checked once
    if not measures:
        where = f"with the prefix {prefix!r}" if prefix else "on the endpoint and the broker"
        measures = [Measure("*", "queue", error=f"no channel {where}")]
    if peek:
        measures = parallel_map(functools.partial(_peeked, backends), measures)
    healths = [assess(measure, rules, flags) for measure in measures]
    healths.sort(key=lambda health: (-SEVERITY[health.status], health.channel))
    return HealthReport(healths)


@dataclass(frozen=True)
class ServiceGroup:
    """The channels of one service (one broker profile), or all of them (``named`` None)."""

    service: Service
    profile: str | None = None
    named: list[Channel] | None = None


def service_groups(backends: Backends, channels: list[Channel] | None) -> list[ServiceGroup]:
    """The named channels by service, or every service msgctl is set up for: AWS unless only a broker is
    (no AWS region anywhere), the broker when one is."""
    if channels is None:
        broker = [ServiceGroup("amq")] if backends.broker_configured else []
        aws = [ServiceGroup("sqs"), ServiceGroup("sns")]
        return [*aws, *broker] if not broker or _aws_configured(backends) else broker
    groups: dict[tuple[Service, str | None], list[Channel]] = {}
    for channel in channels:
        groups.setdefault((channel.service, channel.broker_profile), []).append(channel)
    return [ServiceGroup(service, profile, named) for (service, profile), named in groups.items()]


def _aws_configured(backends: Backends) -> bool:
    try:
        return bool(backends.aws.region)
    except MsgctlError:
        return False


def open_backends(backends: Backends, group: ServiceGroup) -> list[Measure]:
    """Opens the group's backends here, before the groups run at once (a registry opens each once, and
    not across threads); nothing measured yet."""
    if group.service in ("sqs", "sns"):
        backends.sqs().client_for(Channel("sqs", "queue", "-"))  # (the listing's client, made once here)
        if group.service == "sns":
            backends.sns()
    else:
        backends.activemq(Channel("amq", "queue", "-", broker_profile=group.profile))
    return []


def measure_group(
    backends: Backends, group: ServiceGroup, prefix: str | None, details: bool = True
) -> list[Measure]:
    """The group's channels measured; without ``details`` (top, every few seconds) SQS reads only the
    queues' attributes."""
    if group.service == "sqs":
        from msgctl.backends.sqs_health import measure_queues

        return measure_queues(backends.sqs(), group.named, prefix, details)
    if group.service == "sns":
        from msgctl.backends.sns_health import measure_topics

        return measure_topics(backends.sns(), backends.sqs(), group.named, prefix)
    from msgctl.backends.activemq_health import measure_broker

    broker = backends.activemq(Channel("amq", "queue", "-", broker_profile=group.profile))
    return measure_broker(broker, group.named, prefix)


def measured_or_unknown(group: ServiceGroup, measure: Callable[[], list[Measure]]) -> list[Measure]:
    """What the service answered, or its error as the status of each channel asked about."""
    try:
        return measure()
    except MsgctlError as exc:
        if group.named is None:
            return [
                Measure(f"{group.service}:*", "topic" if group.service == "sns" else "queue", error=str(exc))
            ]
        return [Measure(str(channel), channel.kind, error=str(exc)) for channel in group.named]


def _peeked(backends: Backends, measure: Measure) -> Measure:
    """The measure, with the age of the oldest of the first messages a tail snapshot sees where CloudWatch
    had none (a lower bound on a standard queue, which has no head)."""
    unread = measure.oldest_age_s is None and measure.error is None and not measure.is_dlq
    if not (unread and measure.channel.startswith("sqs:") and measure.depth):
        return measure
    from msgctl.api.messages import MessageStream
    from msgctl.core.tail import TailOptions

    options = TailOptions(max=PEEK_MESSAGES)
    try:
        source = backends.tail_source(parse_channel(measure.channel), options)
        with MessageStream(source, options) as stream:
            sent = [e.attributes.get("sent_at") for e in stream]
    except MsgctlError as exc:
        return replace(measure, notes={**measure.notes, "oldest_age_s": f"--peek: {exc}"})
    times = [datetime.fromisoformat(s).timestamp() for s in sent if isinstance(s, str)]
    if not times:
        return replace(measure, notes={**measure.notes, "oldest_age_s": "--peek saw no message"})
    notes = {name: note for name, note in measure.notes.items() if name != "oldest_age_s"}
    return replace(measure, oldest_age_s=round(max(0.0, time.time() - min(times)), 3), notes=notes)
