"""What check reads of SQS queues: one GetQueueAttributes and one ListQueueTags a queue (in parallel), the
ages of the queues that hold messages from CloudWatch's GetMetricData (up to 500 queues a call, asked while
the reads go on), and the move tasks out of each DLQ."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from msgctl.address import Channel, parse_channel
from msgctl.backends.aws import arn_name, aws_errors, partition_of
from msgctl.backends.sqs import METRIC_QUERIES_PER_CALL, SqsBackend, dead_letter_target
from msgctl.core.health import Measure
from msgctl.core.parallel import Interrupted, interrupted, parallel_map, read_workers
from msgctl.errors import MsgctlError, NotFoundError

AGE_EVERY = 100  # queues read between two GetMetricData calls (of those among them that hold messages)
ASIDE_WORKERS = 2
NO_AGE = "CloudWatch has no ApproximateAgeOfOldestMessage for it"
DEPTH = "ApproximateNumberOfMessages"
ATTRIBUTES = (DEPTH, "ApproximateNumberOfMessagesNotVisible", "RedrivePolicy", "QueueArn")  # what check uses


@dataclass(eq=False)
class _Queue:
    name: str
    url: str
    attributes: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    client: Any = None
    taken_at: float = 0.0
    tags_error: str | None = None
    region: str | None = None  # None: the default one
    # "arn:PARTITION:sqs:REGION:ACCOUNT:" for a queue named in another region or account: it is reported
    # by its ARN, so it is told from a queue of the same name here (and so is its DLQ, which AWS keeps in
    # the queue's region and account)
    arn_prefix: str | None = None

    @property
    def channel(self) -> str:
        return f"{self.arn_prefix}{self.name}" if self.arn_prefix else f"sqs:{self.name}"

    @property
    def dlq(self) -> str | None:
        target = dead_letter_target(self.attributes.get("RedrivePolicy"))
        return self.arn_prefix + target.removeprefix("sqs:") if target and self.arn_prefix else target

    @property
    def in_flight(self) -> int | None:
        return self.count("ApproximateNumberOfMessagesNotVisible")

    def count(self, attribute: str) -> int | None:
        value = self.attributes.get(attribute)
        return int(value) if value is not None and value.isdigit() else None


def measure_queues(
    sqs: SqsBackend, channels: list[Channel] | None, prefix: str | None, details: bool = True
) -> list[Measure]:
    """Every queue (with ``prefix``) when ``channels`` is None, else the named ones. A queue that cannot be
    read is measured as its error; a queue deleted while listing is left out. Without ``details`` only the
    attributes are read (no tags, ages, move tasks): what top reads every few seconds."""
    if channels is None:
        queues = [_Queue(url.rsplit("/", 1)[-1], url) for url in sqs.queue_urls(prefix)]
    else:
        queues = parallel_map(lambda channel: _named(sqs, channel), channels)
    # Listed whole, the queues say which are DLQs; named or by prefix, a DLQ's sources may be elsewhere.
    asides = _Asides(sqs, details, partial=channels is not None or bool(prefix))
    try:
        queues = _read_all(sqs, queues, channels is not None, asides)
        return _measured(sqs, queues, asides)
    finally:
        asides.close()


def _read_all(sqs: SqsBackend, queues: list[_Queue], named: bool, asides: _Asides) -> list[_Queue]:
    """Each queue's attributes and tags; what depends on them is asked as the reads go."""
    read: list[_Queue] = []
    with ThreadPoolExecutor(read_workers(), thread_name_prefix="msgctl-read") as pool:
        try:
            reading = functools.partial(_read, sqs, named=named, tags=asides.enabled)
            for queue in pool.map(reading, queues):  # in order, as they come
                if queue is not None:
                    read.append(queue)
                    asides.add(queue)
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return read


def _measured(sqs: SqsBackend, queues: list[_Queue], asides: _Asides) -> list[Measure]:
    readable = {q.channel: q for q in queues if q.error is None}
    dlqs = {d for q in readable.values() if (d := q.dlq)}
    dlqs |= asides.dlqs_with_sources()
    for dlq in dlqs & set(readable):  # a failed move left messages behind: an empty DLQ has none
        if readable[dlq].count(DEPTH) or readable[dlq].in_flight:
            asides.ask_move_tasks(readable[dlq].attributes.get("QueueArn", ""))
    depths: dict[str, int | str | None] = {c: q.count(DEPTH) for c, q in readable.items()}
    elsewhere = sorted(dlqs - set(readable))  # DLQs of measured queues, not measured themselves
    depths |= dict(zip(elsewhere, parallel_map(functools.partial(_depth, sqs), elsewhere), strict=True))
    ages, failures = asides.ages(), asides.move_failures()
    return [
        _measure(q, dlqs, depths, ages.get(q.channel), failures.get(q.attributes.get("QueueArn", "")))
        for q in queues
    ]


def _named(sqs: SqsBackend, channel: Channel) -> _Queue:
    queue = _Queue(channel.name, "", region=channel.region, arn_prefix=_arn_prefix(sqs, channel))
    try:
        queue.url = sqs.queue_url(channel)
    except MsgctlError as exc:
        queue.error = str(exc)
    return queue


def _arn_prefix(sqs: SqsBackend, channel: Channel) -> str | None:
    if channel.account is None and channel.region in (None, sqs.region):
        return None
    region = channel.region or sqs.region
    return f"arn:{partition_of(region)}:sqs:{region}:{channel.account or '*'}:"


def _read(sqs: SqsBackend, queue: _Queue, named: bool, tags: bool = True) -> _Queue | None:
    if interrupted():
        raise Interrupted("interrupted")  # Ctrl-C: the reads not started are not made
    if queue.error is not None:
        return queue
    queue.client = sqs.client_for(parse_channel(queue.url))

    def read() -> None:
        with aws_errors(f"cannot read sqs:{queue.name}"):
            answer = queue.client.get_queue_attributes(QueueUrl=queue.url, AttributeNames=list(ATTRIBUTES))
            queue.attributes, queue.taken_at = answer.get("Attributes", {}), time.monotonic()

    queue.error = read_error(read, named)
    if queue.error is GONE:
        return None
    if tags and queue.error is None:
        try:
            with aws_errors(f"cannot read the tags of sqs:{queue.name}"):
                queue.tags = queue.client.list_queue_tags(QueueUrl=queue.url).get("Tags", {})
        except MsgctlError as exc:  # the depth stands; only the levels its tags would set are missing
            queue.tags_error = f"its tags could not be read, their levels are not applied: {exc}"
    return queue


GONE = "(deleted while listed)"


def read_error(read: Callable[[], None], named: bool) -> str | None:
    """Run ``read``: None, or its error's message; GONE for a channel that was listed (not named) and is
    deleted by now: it is left out."""
    try:
        read()
    except NotFoundError as exc:
        return GONE if not named else str(exc)
    except MsgctlError as exc:
        return str(exc)
    return None


def _has_sources(queue: _Queue) -> bool:
    try:
        with aws_errors(f"cannot list the source queues of sqs:{queue.name}"):
            return bool(queue.client.list_dead_letter_source_queues(QueueUrl=queue.url).get("queueUrls"))
    except MsgctlError:
        return False  # not known to be a DLQ: checked as a queue


def _depth(sqs: SqsBackend, dlq: str) -> int | str | None:
    """The DLQ's depth, or why it could not be read."""
    try:
        value = sqs.queue_attributes(parse_channel(dlq)).get(DEPTH)
    except NotFoundError:
        return f"{dlq} does not exist: dead letters have nowhere to go"
    except MsgctlError as exc:
        return str(exc)
    return int(value) if value is not None and value.isdigit() else None


class _Asides:
    """What is asked beside the reads (CloudWatch and move tasks may answer slower than SQS): the ages of
    the queues that hold messages, a batch at a time as the reads go (an empty queue has no oldest
    message), the move tasks out of each DLQ that holds messages, and, when not every queue is measured
    (``partial``), whether a queue that holds messages is some other queue's DLQ."""

    def __init__(self, sqs: SqsBackend, enabled: bool = True, partial: bool = False) -> None:
        self._sqs, self._seen, self.enabled, self._partial = sqs, 0, enabled, partial
        self._waiting: list[_Queue] = []
        self._dlqs: set[str] = set()  # named by the RedrivePolicy of a queue read so far
        self._sources: dict[str, Future[bool]] = {}  # by channel: does some queue dead-letter to it?
        self._ages: list[Future[dict[str, float]]] = []
        self._moves: dict[str, Future[str | None]] = {}  # by the DLQ's ARN
        self._pool = ThreadPoolExecutor(ASIDE_WORKERS, thread_name_prefix="msgctl-aside")

    def add(self, queue: _Queue) -> None:
        if not self.enabled:
            return
        self._seen += 1
        if dlq := queue.dlq:
            self._dlqs.add(dlq)
        if queue.error is None and (queue.count(DEPTH) or queue.in_flight):
            self._waiting.append(queue)
            if self._partial and queue.channel not in self._dlqs:
                self._sources[queue.channel] = self._pool.submit(_has_sources, queue)
        if len(self._waiting) >= METRIC_QUERIES_PER_CALL or (self._seen % AGE_EVERY == 0 and self._waiting):
            self._ask_ages()

    def ask_move_tasks(self, dlq_arn: str) -> None:
        if self.enabled and dlq_arn and dlq_arn not in self._moves:
            self._moves[dlq_arn] = self._pool.submit(_move_failure, self._sqs, dlq_arn)

    def _ask_ages(self) -> None:
        by_region: dict[str | None, list[_Queue]] = {}
        for queue in self._waiting:
            by_region.setdefault(queue.region, []).append(queue)
        self._ages += [self._pool.submit(self._ages_of, queues) for queues in by_region.values()]
        self._waiting = []

    def _ages_of(self, queues: list[_Queue]) -> dict[str, float]:
        names = [queue.name for queue in queues]
        ages = self._sqs.metric_values(names, "ApproximateAgeOfOldestMessage", "Maximum", queues[0].region)
        return {queue.channel: ages[queue.name] for queue in queues if queue.name in ages}

    def ages(self) -> dict[str, float]:
        if self._waiting:
            self._ask_ages()
        found: dict[str, float] = {}
        for answer in self._ages:
            found |= answer.result()
        return found

    def dlqs_with_sources(self) -> set[str]:
        return {channel for channel, answer in self._sources.items() if answer.result()}

    def move_failures(self) -> dict[str, str | None]:
        return {arn: answer.result() for arn, answer in self._moves.items()}

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def _move_failure(sqs: SqsBackend, dlq_arn: str) -> str | None:
    """Why the DLQ's last native move task failed; None when it did not (or the endpoint has none)."""
    try:
        client = sqs.client_for(parse_channel(dlq_arn))
        with aws_errors(f"cannot list the move tasks of sqs:{arn_name(dlq_arn)}"):
            answer = client.list_message_move_tasks(SourceArn=dlq_arn, MaxResults=1)
    except Exception:  # no move tasks here (moto answers with a server error): nothing failed
        return None
    results = answer.get("Results") or []
    if not results or results[0].get("Status") != "FAILED":
        return None
    destination = results[0].get("DestinationArn")
    where = f" (to sqs:{arn_name(destination)})" if destination else ""
    return f"the last move task{where} failed: {results[0].get('FailureReason') or 'no reason given'}"


def _measure(
    queue: _Queue, dlqs: set[str], depths: dict[str, int | str | None], age: float | None, failure: str | None
) -> Measure:
    if queue.error is not None:
        return Measure(queue.channel, "queue", error=queue.error)
    dlq = queue.dlq
    is_dlq = queue.channel in dlqs
    dead_letters = depths.get(queue.channel if is_dlq else dlq or "")  # a DLQ's own depth, else its DLQ's
    notes = {"oldest_age_s": NO_AGE} if age is None else {}
    if queue.tags_error is not None:
        notes["tags"] = queue.tags_error
    if isinstance(dead_letters, str):
        notes["dlq_depth"], dead_letters = dead_letters, None
    return Measure(
        channel=queue.channel,
        kind="queue",
        depth=queue.count(DEPTH),
        in_flight=queue.in_flight,
        oldest_age_s=age,
        dlq=dlq,
        dlq_depth=dead_letters,
        is_dlq=is_dlq,
        move_task_failure=failure,
        tags=queue.tags,
        notes=notes,
        taken_at=queue.taken_at,
    )
