"""Dead-letter queues: finding them on every broker, purging one, and SQS's native move tasks."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from msgctl.address import Channel, endpoint_name, parse_channel
from msgctl.api.convert import Confirm, go_ahead
from msgctl.backends.registry import Backends
from msgctl.core.parallel import parallel_map
from msgctl.core.ports import Backend, ChannelStats
from msgctl.errors import MsgctlError, NotFoundError, UsageError

# PurgeQueue deletes the visible, the in-flight and the delayed messages alike.
PURGED_COUNTS = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)


@dataclass(frozen=True)
class DeadLetterQueue:
    channel: str
    depth: int | None
    oldest_age_s: float | None
    sources: list[str]

    def to_json(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "depth": self.depth,
            "oldest_age_s": self.oldest_age_s,
            "sources": self.sources,
        }


@dataclass(frozen=True)
class MoveTask:
    """One SQS message move task (the native redrive)."""

    status: str | None
    moved: int | None
    to_move: int | None
    destination: str | None
    started_ms: int | None
    failure: str | None
    handle: str | None


def dead_letter_queues(backends: Backends, prefix: str | None) -> list[DeadLetterQueue]:
    """SQS queues some RedrivePolicy names, and ActiveMQ's DLQ.* and ActiveMQ.DLQ when a broker is set."""
    dlqs = sorted(backends.sqs_dead_letter_queues(prefix).items())
    read = functools.partial(_existing_stats, backends.sqs())
    found = []
    for (dlq, sources), stats in zip(dlqs, parallel_map(read, [dlq for dlq, _ in dlqs]), strict=True):
        if stats is None:  # a RedrivePolicy naming a deleted queue: its dead letters go nowhere
            backends.warn(f"{dlq} does not exist, yet {', '.join(sorted(sources))} dead-letter to it")
            continue
        found.append(DeadLetterQueue(dlq, stats.summary.depth, stats.oldest_age_s, sorted(sources)))
    if backends.broker_configured:
        found += _activemq_dead_letter_queues(backends, prefix)
    return found


def _existing_stats(sqs: Backend, dlq: str) -> ChannelStats | None:
    try:
        return sqs.stats(parse_channel(dlq))
    except NotFoundError:
        return None


def _activemq_dead_letter_queues(backends: Backends, prefix: str | None) -> list[DeadLetterQueue]:
    amq = backends.for_service("amq")
    summaries = list(amq.list_channels(prefix))
    queues = {s.channel: s for s in summaries if s.kind == "queue"}
    for summary in summaries:
        if summary.kind == "queue" and summary.dlq:
            queues.setdefault(summary.dlq, summary)
    found = []
    for channel in sorted(c for c in queues if c.split("/", 1)[1].startswith(("DLQ.", "ActiveMQ.DLQ"))):
        sources = sorted(s.channel for s in summaries if s.dlq == channel)
        oldest = amq.stats(parse_channel(channel)).oldest_age_s
        found.append(DeadLetterQueue(channel, queues[channel].depth, oldest, sources))
    return found


def purge(backends: Backends, dlq: Channel, confirm: Confirm | None) -> int:
    """Delete every message of an SQS DLQ (PurgeQueue); only a queue some RedrivePolicy names. Returns how
    many messages it held."""
    _require_sqs(dlq)
    sqs = backends.sqs()
    if not backends.dlq_sources(dlq):
        raise UsageError(f"{dlq} is not a DLQ (no queue's RedrivePolicy names it): purge only empties DLQs")
    attributes = sqs.queue_attributes(dlq)
    count = sum(int(attributes.get(a, 0)) for a in PURGED_COUNTS)
    go_ahead(confirm, f"delete all {count} messages of {dlq}?", f"purging {dlq}")
    sqs.purge(dlq)
    return count


def move_tasks(backends: Backends, dlq: Channel) -> list[MoveTask]:
    _require_sqs(dlq)
    return [
        MoveTask(
            status=t.get("Status"),
            moved=t.get("ApproximateNumberOfMessagesMoved"),
            to_move=t.get("ApproximateNumberOfMessagesToMove"),
            destination=endpoint_name("sqs", t["DestinationArn"]) if t.get("DestinationArn") else None,
            started_ms=t.get("StartedTimestamp"),
            failure=t.get("FailureReason"),
            handle=t.get("TaskHandle"),
        )
        for t in backends.native_move(dlq).tasks()
    ]


def cancel_move_task(backends: Backends, dlq: Channel, handle: str | None = None) -> int:
    """Cancel the DLQ's running move task (or the one ``handle`` names); returns how many it had moved."""
    _require_sqs(dlq)
    native = backends.native_move(dlq)
    if handle is None:
        running = [t for t in native.tasks() if t.get("Status") == "RUNNING"]
        if not running:
            raise MsgctlError(f"{dlq} has no running move task")
        handle = running[0]["TaskHandle"]
    return native.cancel(handle)


def _require_sqs(channel: Channel) -> None:
    if channel.service != "sqs":
        raise UsageError(f"{channel}: this command works on SQS queues")
