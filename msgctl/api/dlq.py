"""Dead-letter queues: finding them on every broker, purging one, and SQS's native move tasks."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from msgctl.address import Channel, endpoint_name, parse_channel
from msgctl.api.convert import Confirm, go_ahead
from msgctl.backends.registry import Backends
from msgctl.core.parallel import parallel_map
from msgctl.core.ports import Backend, ChannelStats
from msgctl.errors import ExitCode, MsgctlError, NotFoundError, UsageError

PURGE_HOLD_S = 60  # a purge that reads holds each batch this long (it deletes it at once)
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


@dataclass
class Purged:
    """What a purge deleted. ``payloads_deleted`` is None when the messages were not read (PurgeQueue):
    the S3 objects of extended-client messages among them are left."""

    dlq: str
    messages: int
    payloads_deleted: int | None = None
    failures: list[str] = field(default_factory=list)  # messages or objects that could not be deleted
    held_elsewhere: int = 0  # in flight at another consumer while the purge read: not purged

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.PARTIAL if self.failures or self.held_elsewhere else ExitCode.OK

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {"dlq": self.dlq, "purged": True, "messages": self.messages}
        if self.payloads_deleted is not None:
            document |= {
                "payloads_deleted": self.payloads_deleted,
                "failures": self.failures,
                "held_elsewhere": self.held_elsewhere,
            }
        return document


def purge(backends: Backends, dlq: Channel, confirm: Confirm | None, payloads: str = "keep") -> Purged:
    """Delete every message of an SQS DLQ; only a queue some RedrivePolicy names. ``payloads="keep"``:
    one PurgeQueue. ``payloads="delete"``: each message is received and deleted, then the S3 object of
    each extended-client message among them (an object is deleted only once its message is gone)."""
    _require_sqs(dlq)
    if payloads not in ("keep", "delete"):
        raise UsageError(f"--payloads must be keep or delete, not {payloads!r}")
    sqs = backends.sqs()
    if not backends.dlq_sources(dlq):
        raise UsageError(f"{dlq} is not a DLQ (no queue's RedrivePolicy names it): purge only empties DLQs")
    attributes = sqs.queue_attributes(dlq)
    count = sum(int(attributes.get(a, 0)) for a in PURGED_COUNTS)
    also = (
        " and the S3 payloads of its extended-client messages (a message elsewhere that points to one of "
        "them, such as another subscriber's copy of an SNS publish, loses its body too)"
        if payloads == "delete"
        else ""
    )
    go_ahead(confirm, f"delete all {count} messages of {dlq}{also}?", f"purging {dlq}")
    if payloads == "keep":
        sqs.purge(dlq)
        return Purged(str(dlq), count)
    return _purge_with_payloads(backends, dlq)


def _purge_with_payloads(backends: Backends, dlq: Channel) -> Purged:
    """Receive and delete what the DLQ held when the purge began (a message sent into it later is left),
    then delete the objects of the pointer messages deleted."""
    from msgctl.backends.s3_payloads import S3Payloads
    from msgctl.core.payloads import PayloadError, Pointer, pointer_of

    source = backends.dead_letter_source(dlq)
    store = S3Payloads(backends.aws, dlq.region)
    result = Purged(str(dlq), 0, 0)
    still_ours = 0  # received, not deleted: held by this purge until its hold runs out

    def delete(pointer: Pointer) -> str | None:
        try:
            store.delete(pointer)
        except PayloadError as exc:
            return str(exc)
        return None

    while batch := source.receive(PURGE_HOLD_S):
        later = [m for m in batch if m.returned]
        source.release(later)
        undeleted = {m.id: why for m, why in source.delete([m for m in batch if not m.returned])}
        still_ours += len(undeleted)
        result.failures += [f"message {i}: not deleted: {why}" for i, why in undeleted.items()]
        deleted = [m for m in batch if not m.returned and m.id not in undeleted]
        result.messages += len(deleted)
        pointers = {p.url: p for m in deleted if (p := pointer_of(m.envelope)) is not None}
        failed = [why for why in parallel_map(delete, list(pointers.values())) if why is not None]
        result.failures += failed
        result.payloads_deleted = (result.payloads_deleted or 0) + len(pointers) - len(failed)
        if later and not deleted:
            break  # what is left came after the purge began
    result.held_elsewhere = max(0, source.hidden() - still_ours)
    return result


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
