"""SQS dead-letter queues: receiving, sending back (to SQS or SNS), and AWS's native move tasks."""

from __future__ import annotations

import json
from typing import Any

from msgctl.address import Channel
from msgctl.backends.aws import AwsClients, arn_name, aws_errors
from msgctl.backends.sqs import SqsBackend, release, to_sqs_attribute
from msgctl.backends.sqs_tail import envelope_from_sqs
from msgctl.core.redrive import RECEIVE_BATCH, Dead
from msgctl.envelope import MessageAttribute
from msgctl.errors import MsgctlError, NotFoundError, UsageError

DEFAULT_MAX_MESSAGE_SIZE = 262_144


class SqsDeadLetters:
    def __init__(self, backend: SqsBackend, channel: Channel) -> None:
        self.channel = str(channel)
        self.client = backend.client_for(channel)
        self.url = backend.queue_url(channel)

    def receive(self, hold_s: int) -> list[Dead]:
        with aws_errors(f"cannot receive from {self.channel}"):
            messages = self.client.receive_message(
                QueueUrl=self.url,
                MaxNumberOfMessages=RECEIVE_BATCH,
                VisibilityTimeout=hold_s,
                WaitTimeSeconds=1,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
        return [
            Dead(m["MessageId"], m["ReceiptHandle"], envelope_from_sqs(self.channel, m)) for m in messages
        ]

    def delete(self, messages: list[Dead]) -> list[tuple[Dead, str]]:
        return self._batch("delete_message_batch", messages, {})

    def release(self, messages: list[Dead]) -> None:
        # What fails to be released becomes visible again when its hold runs out: nothing is lost.
        self._batch("change_message_visibility_batch", messages, {"VisibilityTimeout": 0})

    def extend(self, messages: list[Dead], hold_s: int) -> None:
        self._batch("change_message_visibility_batch", messages, {"VisibilityTimeout": hold_s})

    def delete_by_receipt(self, message_id: str, receipt: str) -> bool:
        try:
            with aws_errors(f"cannot delete {message_id} from {self.channel}"):
                self.client.delete_message(QueueUrl=self.url, ReceiptHandle=receipt)
        except MsgctlError:
            return False
        return True

    def visible(self) -> int:
        with aws_errors(f"cannot read {self.channel}"):
            attributes = self.client.get_queue_attributes(
                QueueUrl=self.url, AttributeNames=["ApproximateNumberOfMessages"]
            )["Attributes"]
        return int(attributes.get("ApproximateNumberOfMessages", 0))

    def release_by_receipt(self, receipts: list[str]) -> None:
        release(self.client, self.url, receipts, self.channel)

    def _batch(self, operation: str, messages: list[Dead], extra: dict[str, Any]) -> list[tuple[Dead, str]]:
        failed: list[tuple[Dead, str]] = []
        for start in range(0, len(messages), RECEIVE_BATCH):
            chunk = messages[start : start + RECEIVE_BATCH]
            entries = [{"Id": str(n), "ReceiptHandle": m.receipt, **extra} for n, m in enumerate(chunk)]
            with aws_errors(f"{operation} on {self.channel}"):
                response = getattr(self.client, operation)(QueueUrl=self.url, Entries=entries)
            for failure in response.get("Failed", []):
                failed.append(
                    (chunk[int(failure["Id"])], f"{failure.get('Code')}: {failure.get('Message', '')}")
                )
        return failed


class SqsTarget:
    """Sends in batches cut by count (10) and by the queue's MaximumMessageSize, in the order given."""

    def __init__(self, backend: SqsBackend, channel: Channel) -> None:
        self.channel = str(channel)
        self.client = backend.client_for(channel)
        self.url = backend.queue_url(channel)
        attributes = backend.queue_attributes(channel)
        self.fifo = attributes.get("FifoQueue") == "true"
        self.max_bytes = int(attributes.get("MaximumMessageSize", DEFAULT_MAX_MESSAGE_SIZE))

    def send(self, messages: list[Dead]) -> list[tuple[Dead, str]]:
        """Never raises for the target's errors: what was not confirmed comes back as failed, with why.
        On a FIFO target, once a message of a group fails, the rest of that group is not sent (order)."""
        failed: list[tuple[Dead, str]] = []
        broken_groups: set[str] = set()
        batch: list[tuple[Dead, dict[str, Any]]] = []
        size = 0

        def flush() -> None:
            nonlocal batch, size
            if batch:
                for message, reason in self._send(batch):
                    failed.append((message, reason))
                    if self.fifo:
                        broken_groups.add(message.group_id or "")
            batch, size = [], 0

        for message in messages:
            if self.fifo and (message.group_id or "") in broken_groups:
                failed.append((message, "an earlier message of its group was not sent (FIFO order)"))
                continue
            try:
                entry = self._entry(message)
                entry_size = _size(entry)
                if entry_size > self.max_bytes:
                    raise UsageError(
                        f"{entry_size} bytes: over the target's MaximumMessageSize {self.max_bytes}"
                    )
            except UsageError as exc:
                failed.append((message, exc.message))
                broken_groups.add(message.group_id or "")
                continue
            if len(batch) == RECEIVE_BATCH or size + entry_size > self.max_bytes:
                flush()
            batch.append((message, entry))
            size += entry_size
        flush()
        return failed

    def _entry(self, message: Dead) -> dict[str, Any]:
        text = message.envelope.text
        if text is None:
            raise UsageError("the body is not text; SQS bodies must be UTF-8")
        entry: dict[str, Any] = {"MessageBody": text}
        if message.envelope.message_attributes:
            entry["MessageAttributes"] = {
                name: to_sqs_attribute(name, attribute)
                for name, attribute in message.envelope.message_attributes.items()
            }
        if self.fifo:
            entry["MessageGroupId"] = message.group_id or "msgctl-redrive"
            entry["MessageDeduplicationId"] = message.dedup_id
        return entry

    def _send(self, batch: list[tuple[Dead, dict[str, Any]]]) -> list[tuple[Dead, str]]:
        entries = [{"Id": str(n), **entry} for n, (_, entry) in enumerate(batch)]
        try:
            with aws_errors(f"cannot send to {self.channel}"):
                response = self.client.send_message_batch(QueueUrl=self.url, Entries=entries)
        except (
            MsgctlError
        ) as exc:  # nothing of this call is known to have arrived: all of it stays in the DLQ
            return [(message, str(exc)) for message, _ in batch]
        confirmed = {item["Id"] for item in response.get("Successful", [])}
        failed = [
            (batch[int(f["Id"])][0], f"{f.get('Code')}: {f.get('Message', '')}")
            for f in response.get("Failed", [])
        ]
        # An entry neither confirmed nor failed is not known to have arrived: it stays in the DLQ.
        failed += [
            (m, "not confirmed")
            for n, (m, _) in enumerate(batch)
            if str(n) not in confirmed and all(f[0] is not m for f in failed)
        ]
        return failed


class SnsTarget:
    """Publishes to a topic (PublishBatch); an SNS envelope left by a non-raw subscription is unwrapped."""

    def __init__(self, clients: AwsClients, topic_arn: str, channel: Channel) -> None:
        self.channel = str(channel)
        self.client = clients.client("sns", channel.region)
        self.topic_arn = topic_arn
        self.fifo = channel.fifo

    def send(self, messages: list[Dead]) -> list[tuple[Dead, str]]:
        failed: list[tuple[Dead, str]] = []
        for start in range(0, len(messages), RECEIVE_BATCH):
            chunk = messages[start : start + RECEIVE_BATCH]
            entries = []
            for n, message in enumerate(chunk):
                body, attributes = _unwrapped(message)
                entry: dict[str, Any] = {"Id": str(n), "Message": body}
                if attributes:
                    entry["MessageAttributes"] = attributes
                if self.fifo:
                    entry["MessageGroupId"] = message.group_id or "msgctl-redrive"
                    entry["MessageDeduplicationId"] = message.dedup_id
                entries.append(entry)
            with aws_errors(f"cannot publish to {self.channel}"):
                response = self.client.publish_batch(
                    TopicArn=self.topic_arn, PublishBatchRequestEntries=entries
                )
            confirmed = {item["Id"] for item in response.get("Successful", [])}
            failed += [(m, "not confirmed") for n, m in enumerate(chunk) if str(n) not in confirmed]
        return failed


def _unwrapped(message: Dead) -> tuple[str, dict[str, Any]]:
    from msgctl.backends.sns import to_sns_attribute

    text = message.envelope.text or ""
    try:
        notification = json.loads(text)
    except ValueError:
        notification = None
    if (
        isinstance(notification, dict)
        and notification.get("Type") == "Notification"
        and "Message" in notification
    ):
        attributes = {
            name: to_sns_attribute(MessageAttribute(value.get("Type", "String"), _attribute_value(value)))
            for name, value in notification.get("MessageAttributes", {}).items()
        }
        return str(notification["Message"]), attributes
    return text, {name: to_sns_attribute(a) for name, a in message.envelope.message_attributes.items()}


def _attribute_value(value: dict[str, Any]) -> str | bytes:
    """An SNS envelope carries Binary attribute values as base64 text."""
    text = str(value.get("Value", ""))
    if str(value.get("Type", "")).startswith("Binary"):
        import base64

        return base64.b64decode(text)
    return text


def _size(entry: dict[str, Any]) -> int:
    size = len(entry["MessageBody"].encode("utf-8"))
    for name, attribute in entry.get("MessageAttributes", {}).items():
        value = attribute.get("StringValue", attribute.get("BinaryValue", b""))
        size += len(name.encode()) + len(attribute["DataType"].encode())
        size += len(value) if isinstance(value, bytes) else len(str(value).encode())
    return size


def source_queues(backend: SqsBackend, dlq: Channel) -> list[str]:
    """The queues whose RedrivePolicy names this DLQ."""
    with aws_errors(f"cannot list the source queues of {dlq}"):
        pages = (
            backend.client_for(dlq)
            .get_paginator("list_dead_letter_source_queues")
            .paginate(QueueUrl=backend.queue_url(dlq))
        )
        return sorted(f"sqs:{url.rsplit('/', 1)[-1]}" for page in pages for url in page.get("queueUrls", []))


def dead_letter_queues(backend: SqsBackend, prefix: str | None = None) -> dict[str, list[str]]:
    """Every queue some RedrivePolicy names, with the queues that name it."""
    client = backend.client_for(Channel("sqs", "queue", "x"))
    kwargs: dict[str, Any] = {"PaginationConfig": {"PageSize": 1000}}
    with aws_errors("cannot list SQS queues"):
        urls = [
            u
            for page in client.get_paginator("list_queues").paginate(**kwargs)
            for u in page.get("QueueUrls", [])
        ]
    dlqs: dict[str, list[str]] = {}
    for url in urls:
        try:
            with aws_errors("cannot read queue attributes"):
                response = client.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])
            attributes = response.get("Attributes", {})
        except NotFoundError:
            continue
        policy = json.loads(attributes["RedrivePolicy"]) if attributes.get("RedrivePolicy") else {}
        target = arn_name(str(policy.get("deadLetterTargetArn", ""))) if policy else ""
        if target and (not prefix or target.startswith(prefix)):
            dlqs.setdefault(f"sqs:{target}", []).append(f"sqs:{url.rsplit('/', 1)[-1]}")
    return dlqs


class NativeMove:
    """AWS's StartMessageMoveTask: server-side, no selection, at most 500 msg/s."""

    def __init__(self, backend: SqsBackend, dlq: Channel) -> None:
        self.client = backend.client_for(dlq)
        self.dlq = dlq
        with aws_errors(f"cannot read {dlq}"):
            self.dlq_arn = str(
                self.client.get_queue_attributes(
                    QueueUrl=backend.queue_url(dlq), AttributeNames=["QueueArn"]
                )["Attributes"]["QueueArn"]
            )

    def available(self) -> bool:
        """Does this endpoint implement move tasks? (moto does not; LocalStack and AWS do.)"""
        try:
            with aws_errors("ListMessageMoveTasks"):
                self.client.list_message_move_tasks(SourceArn=self.dlq_arn, MaxResults=1)
        except MsgctlError:
            return False
        return True

    def start(self, destination_arn: str | None, rate: float | None) -> str:
        kwargs: dict[str, Any] = {"SourceArn": self.dlq_arn}
        if destination_arn:
            kwargs["DestinationArn"] = destination_arn
        if rate:
            kwargs["MaxNumberOfMessagesPerSecond"] = max(1, int(rate))
        with aws_errors(f"cannot start a move task on {self.dlq}"):
            return str(self.client.start_message_move_task(**kwargs)["TaskHandle"])

    def tasks(self) -> list[dict[str, Any]]:
        with aws_errors(f"cannot list the move tasks of {self.dlq}"):
            return list(self.client.list_message_move_tasks(SourceArn=self.dlq_arn, MaxResults=10)["Results"])

    def cancel(self, task_handle: str) -> int:
        with aws_errors(f"cannot cancel the move task of {self.dlq}"):
            return int(
                self.client.cancel_message_move_task(TaskHandle=task_handle).get(
                    "ApproximateNumberOfMessagesMoved", 0
                )
            )
