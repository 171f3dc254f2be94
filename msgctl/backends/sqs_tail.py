"""tail on SQS: snapshots that hold what they receive and release it all at the end, and SNS topics through
an ephemeral queue that lives as long as the tail."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from msgctl.address import Channel
from msgctl.backends.aws import AwsClients, aws_errors
from msgctl.backends.sns import SnsBackend
from msgctl.backends.sqs import SqsBackend, max_receive_count, queue_counts, release
from msgctl.backends.sqs_receives import ReceiveRecord, next_receive_risk, sqs_receive
from msgctl.core.fifo_lag import Seen, cut_from_batches
from msgctl.core.payloads import marked, may_point
from msgctl.core.queue_policy import allow_topic_statement, merge_statement
from msgctl.core.tail import DEFAULT_MAX_HOLD_S, TailOptions, TailReport, iso
from msgctl.envelope import SUBJECT, TRACE_HEADER, Envelope, MessageAttribute
from msgctl.errors import MsgctlError, NotFoundError, UsageError

RECEIVE_BATCH = 10
FOLLOW_INTERVAL_S = 10.0
EPHEMERAL_PREFIX = "msgctl-tail-"
EPHEMERAL_TAG = "msgctl:ephemeral"
TOPIC_TAG = "msgctl:topic"
GC_AGE = timedelta(hours=1)


def envelope_from_sqs(channel: str, message: dict[str, Any]) -> Envelope:
    system = message.get("Attributes", {})
    attributes = {
        "sent_at": iso(system.get("SentTimestamp")),
        "receive_count": int(system["ApproximateReceiveCount"])
        if "ApproximateReceiveCount" in system
        else None,
        "group_id": system.get("MessageGroupId"),
        "dedup_id": system.get("MessageDeduplicationId"),
        "sequence_number": system.get("SequenceNumber"),
        TRACE_HEADER: system.get("AWSTraceHeader"),
    }
    body = message.get("Body", "")
    envelope = Envelope(
        channel=channel,
        id=message.get("MessageId"),
        body=body.encode("utf-8"),
        attributes={k: v for k, v in attributes.items() if v is not None},
        message_attributes={
            name: MessageAttribute(
                value["DataType"],
                value["BinaryValue"] if "BinaryValue" in value else value.get("StringValue", ""),
            )
            for name, value in message.get("MessageAttributes", {}).items()
        },
    )
    return marked(envelope) if may_point(body) else envelope


class SqsSnapshot:
    """Receive everything visible, holding it (visibility = hold) so each message comes once, then release
    it all (visibility 0). With follow, repeat every FOLLOW_INTERVAL_S and print only new message ids."""

    def __init__(self, backend: SqsBackend, channel: Channel, options: TailOptions) -> None:
        self.channel, self.options = channel, options
        self.client = backend.client_for(channel)
        self.url = backend.queue_url(channel)
        attributes = backend.queue_attributes(channel)
        self.max_receive_count = max_receive_count(attributes)
        self.fifo = attributes.get("FifoQueue") == "true"
        if self.max_receive_count is not None and self.max_receive_count <= 2 and not options.force:
            raise UsageError(
                f"{channel} moves a message to its DLQ after {self.max_receive_count} receives: a peek "
                "would leave consumers no retry; nothing was received (--force to tail anyway)"
            )
        self.record = ReceiveRecord(self.url)
        self.record.forget_if_empty(attributes)
        at_risk = next_receive_risk(self.record, self.max_receive_count)
        if at_risk and not options.force:
            raise UsageError(
                f"msgctl's earlier receives left {at_risk} messages of {channel} one receive (or less) from "
                f"the DLQ limit (maxReceiveCount {self.max_receive_count}): another receive would leave them "
                "one receive from the DLQ or move them there; nothing was received (--force to tail anyway)"
            )
        depth = int(attributes.get("ApproximateNumberOfMessages", "0") or 0)
        self.hold = options.hold or min(DEFAULT_MAX_HOLD_S, max(15, depth // 20))
        self.held: dict[str, str] = {}  # receipt handle -> message id, released at the end of a snapshot
        self.receipts: dict[str, str] = {}  # message id -> latest receipt handle (for --consume)
        self.counts: dict[str, int] = {}  # message id -> receive count after our receive
        self.seen: set[str] = set()
        self.not_received = 0  # what the queue showed and a whole snapshot did not receive
        # FIFO: how many messages were left unreceivable, the groups cut, how many were in flight at the start
        self.cut: tuple[int, set[str], int] | None = None

    def poll(self) -> Iterator[Envelope | None]:
        while True:
            yield from self._snapshot()
            if not self.options.follow:
                return
            yield None  # whoever reads ahead (payloads from S3) gives back what it holds before the release
            self._release()
            self._refuse_to_push_toward_the_dlq()
            deadline = time.monotonic() + FOLLOW_INTERVAL_S
            while time.monotonic() < deadline:
                yield None
                time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))

    def _snapshot(self) -> Iterator[Envelope]:
        """One pass over what is visible. It ends on an empty receive, on a message it already received in
        this pass (its hold ran out), or once it received what the queue held at its start (a busy queue
        would otherwise keep it going while producers add messages)."""
        this_pass: set[str] = set()
        batches: list[tuple[int, list[Seen]]] = []
        visible, in_flight = queue_counts(self.client, self.url, str(self.channel))
        budget = visible + RECEIVE_BATCH
        while len(this_pass) < budget:
            messages = sqs_receive(self.client, self.url, str(self.channel), self.hold, RECEIVE_BATCH).get(
                "Messages", []
            )
            if not messages:
                self._after_whole_pass(this_pass, batches, visible, in_flight)
                return
            for message in messages:  # hold the whole batch before yielding any: all of it gets released
                message_id = message["MessageId"]
                self.held[message["ReceiptHandle"]] = message_id
                self.receipts[message_id] = message["ReceiptHandle"]
                self.counts[message_id] = int(
                    message.get("Attributes", {}).get("ApproximateReceiveCount", "0")
                )
            self.record.add(messages)
            batches.append((RECEIVE_BATCH, [_group_of(message) for message in messages]))
            wrapped = any(message["MessageId"] in this_pass for message in messages)
            for message in messages:
                message_id = message["MessageId"]
                this_pass.add(message_id)
                if message_id not in self.seen:
                    self.seen.add(message_id)
                    yield envelope_from_sqs(str(self.channel), message)
            if wrapped:
                return

    def _after_whole_pass(
        self, this_pass: set[str], batches: list[tuple[int, list[Seen]]], visible: int, in_flight: int
    ) -> None:
        """A pass that ended on an empty receive, while still holding what it received: what the queue
        still shows could not be received (FIFO: groups locked by the pass's own hold), and what it showed
        at the start but neither gave nor still shows is gone: dead-lettered by this receive, or consumed."""
        left_visible, _ = queue_counts(self.client, self.url, str(self.channel))
        self.not_received = max(self.not_received, visible - len(this_pass) - left_visible)
        if self.fifo and left_visible > 0:
            self.cut = (left_visible, cut_from_batches(batches, nothing_left_visible=False), in_flight)
        if left_visible == 0 and in_flight == 0:
            self.record.forget_all_but(this_pass)

    def _refuse_to_push_toward_the_dlq(self) -> None:
        if self.max_receive_count is None or self.options.force:
            return
        at_risk = next_receive_risk(self.record, self.max_receive_count)
        if at_risk:
            raise MsgctlError(
                f"stopped following: another snapshot would leave {at_risk} messages one receive (or less) "
                f"from the DLQ (maxReceiveCount {self.max_receive_count}); --force to go on"
            )

    def printed(self, envelope: Envelope) -> None:
        if self.options.consume and envelope.id in self.receipts:
            handle = self.receipts.pop(envelope.id)
            with aws_errors(f"cannot delete a message from {self.channel}"):
                self.client.delete_message(QueueUrl=self.url, ReceiptHandle=handle)
            self.held.pop(handle, None)
            self.counts.pop(envelope.id, None)
            self.record.forget([envelope.id])

    def _release(self) -> None:
        handles = list(self.held)
        self.held.clear()
        release(self.client, self.url, handles, str(self.channel))

    def close(self, report: TailReport) -> None:
        self._release()
        self.record.save()
        if self.not_received and self.max_receive_count is not None:
            report.notes.append(
                f"{self.not_received} messages the queue showed were not received: this receive may have "
                f"moved them to the DLQ (maxReceiveCount {self.max_receive_count}), or a consumer took them"
            )
        if self.cut is not None:
            self._report_cut(report, *self.cut)
        if self.max_receive_count is not None:
            near = sum(1 for c in self.counts.values() if c >= self.max_receive_count)
            if near:
                report.notes.append(
                    f"{near} messages are now one receive away from the DLQ "
                    f"(maxReceiveCount {self.max_receive_count})"
                )
        if self.fifo and self.seen:
            report.notes.append(
                "FIFO: the groups of held messages were locked for consumers during the scan "
                f"(hold {self.hold} s)"
            )

    def _report_cut(self, report: TailReport, left: int, groups: set[str], in_flight: int) -> None:
        reasons = [f"groups cut: {', '.join(sorted(groups))}"] if groups else []
        if in_flight or not groups:
            reasons.append(f"{in_flight} messages in flight elsewhere held their groups")
        named = "; ".join(reasons)
        report.cut_groups = sorted(groups)
        report.partial = (
            f"FIFO: {left} messages of {self.channel} could not be read without consuming: SQS hands out "
            f"nothing more of a group while its first messages are held ({named}). To read every message, "
            f"consume them: `msgctl tail {self.channel} --consume -o ndjson` deletes each one once written, "
            f"or `msgctl dlq redrive {self.channel} --to sqs:HOLDING` moves them all (journaled) first"
        )


def _group_of(message: dict[str, Any]) -> Seen:
    return Seen(str(message.get("Attributes", {}).get("MessageGroupId", "")), None, None)


class SnsTail:
    """A topic seen through an ephemeral queue subscribed to it, removed again on exit."""

    def __init__(self, clients: AwsClients, sns: SnsBackend, channel: Channel, options: TailOptions) -> None:
        self.channel, self.options = channel, options
        self.sns, self.sqs = clients.client("sns", channel.region), clients.client("sqs", channel.region)
        self.topic_arn = sns.topic_arn(channel)
        fifo = channel.fifo
        stem = f"{EPHEMERAL_PREFIX}{channel.name.removesuffix('.fifo')[:40]}-{uuid.uuid4().hex[:8]}"
        self.queue_name = stem + (".fifo" if fifo else "")
        self.queue_url: str | None = None
        self.subscription: str | None = None
        try:
            self._create(clients, fifo)
        except BaseException:
            self.close(TailReport())
            raise

    def _create(self, clients: AwsClients, fifo: bool) -> None:
        queue_arn = clients.arn("sqs", self.queue_name)
        attributes = {"Policy": merge_statement(None, allow_topic_statement(queue_arn, self.topic_arn))}
        if fifo:
            attributes["FifoQueue"] = "true"
        tags = {EPHEMERAL_TAG: datetime.now(UTC).isoformat(timespec="seconds"), TOPIC_TAG: self.topic_arn}
        with aws_errors(f"cannot create the ephemeral queue {self.queue_name}"):
            self.queue_url = self.sqs.create_queue(
                QueueName=self.queue_name, Attributes=attributes, tags=tags
            )["QueueUrl"]
        with aws_errors(f"cannot subscribe {self.queue_name} to {self.channel}"):
            self.subscription = self.sns.subscribe(
                TopicArn=self.topic_arn, Protocol="sqs", Endpoint=queue_arn, ReturnSubscriptionArn=True
            )["SubscriptionArn"]

    def poll(self) -> Iterator[Envelope | None]:
        while True:
            assert self.queue_url is not None, "made in __init__, gone only once closed"
            messages = sqs_receive(self.sqs, self.queue_url, self.queue_name, max_messages=RECEIVE_BATCH).get(
                "Messages", []
            )
            if not messages:
                yield None
            for message in messages:
                yield self._envelope(message)
                with aws_errors(f"cannot delete from {self.queue_name}"):
                    self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])

    def _envelope(self, message: dict[str, Any]) -> Envelope:
        raw = envelope_from_sqs(str(self.channel), message)
        try:
            notification = json.loads(message.get("Body", ""))
        except ValueError:
            notification = None
        if not isinstance(notification, dict) or "Message" not in notification:
            return raw
        attributes = {k: v for k, v in raw.attributes.items() if k in ("group_id", "sequence_number")}
        attributes["sent_at"] = notification.get("Timestamp")
        attributes[SUBJECT] = notification.get("Subject")
        attributes = {k: v for k, v in attributes.items() if v is not None}
        if not self.options.unwrap:
            return marked(Envelope(str(self.channel), notification.get("MessageId"), raw.body, attributes))
        return marked(
            Envelope(
                channel=str(self.channel),
                id=notification.get("MessageId"),
                body=str(notification["Message"]).encode("utf-8"),
                attributes=attributes,
                message_attributes={
                    name: MessageAttribute(
                        value.get("Type", "String"),
                        base64.b64decode(value["Value"])
                        if value.get("Type", "").startswith("Binary")
                        else value.get("Value", ""),
                    )
                    for name, value in notification.get("MessageAttributes", {}).items()
                },
            )
        )

    def printed(self, envelope: Envelope) -> None:
        pass

    def close(self, report: TailReport) -> None:
        if self.subscription:
            with aws_errors("cannot remove the tail's subscription"):
                self.sns.unsubscribe(SubscriptionArn=self.subscription)
            self.subscription = None
        if self.queue_url:
            with aws_errors("cannot remove the tail's queue"):
                self.sqs.delete_queue(QueueUrl=self.queue_url)
            self.queue_url = None


def collect_garbage(clients: AwsClients, older_than: timedelta = GC_AGE) -> list[str]:
    """Remove ephemeral tail queues (and their subscriptions) left behind by a killed tail."""
    sqs, sns = clients.client("sqs"), clients.client("sns")
    removed = []
    with aws_errors("cannot list queues"):
        urls = [
            url
            for page in sqs.get_paginator("list_queues").paginate(QueueNamePrefix=EPHEMERAL_PREFIX)
            for url in page.get("QueueUrls", [])
        ]
    now = datetime.now(UTC)
    for url in urls:
        try:
            with aws_errors("cannot read queue tags"):
                tags = sqs.list_queue_tags(QueueUrl=url).get("Tags", {})
        except NotFoundError:
            continue
        created = tags.get(EPHEMERAL_TAG)
        if not created or now - datetime.fromisoformat(created) < older_than:
            continue
        name = url.rsplit("/", 1)[-1]
        if tags.get(TOPIC_TAG):
            _unsubscribe_queue(sns, tags[TOPIC_TAG], clients.arn("sqs", name))
        with aws_errors(f"cannot delete {name}"):
            sqs.delete_queue(QueueUrl=url)
        removed.append(f"sqs:{name}")
    return removed


def _unsubscribe_queue(sns: Any, topic_arn: str, queue_arn: str) -> None:
    try:
        with aws_errors("cannot list subscriptions"):
            subscriptions = [
                s
                for page in sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic_arn)
                for s in page.get("Subscriptions", [])
            ]
    except NotFoundError:
        return  # the topic is gone, and its subscriptions with it
    for sub in subscriptions:
        if sub.get("Endpoint") == queue_arn and str(sub.get("SubscriptionArn", "")).startswith("arn:"):
            with aws_errors("cannot unsubscribe"):
                sns.unsubscribe(SubscriptionArn=sub["SubscriptionArn"])
