"""Amazon SQS through boto3."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from msgctl.address import Channel
from msgctl.backends.aws import AwsClients, arn_name, aws_errors, send_request
from msgctl.core.parallel import parallel_map
from msgctl.core.ports import Capabilities, ChannelStats, ChannelSummary, OutgoingMessage, SendReceipt
from msgctl.envelope import MessageAttribute
from msgctl.errors import MsgctlError, NotFoundError, UsageError

METRIC_QUERIES_PER_CALL = 500  # GetMetricData's limit
METRIC_WINDOW = timedelta(minutes=15)  # SQS metrics come every minute (every 5 without detailed monitoring)
_INT_ATTRIBUTES = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)


class SqsBackend:
    service = "sqs"
    capabilities = Capabilities(fifo=True, binary_attributes=True)

    def __init__(self, clients: AwsClients) -> None:
        self._clients = clients
        self._urls: dict[Channel, str] = {}

    @property
    def _sqs(self) -> Any:
        return self._clients.client("sqs")

    def client_for(self, channel: Channel) -> Any:
        """The client of the channel's region (a queue URL or ARN may name another one)."""
        return self._clients.client("sqs", channel.region)

    def queue_url(self, channel: Channel) -> str:
        if channel.queue_url:
            return channel.queue_url
        if channel not in self._urls:
            kwargs = {"QueueName": channel.name}
            if channel.account:
                kwargs["QueueOwnerAWSAccountId"] = channel.account
            with aws_errors(f"cannot look up {channel}"):
                self._urls[channel] = self.client_for(channel).get_queue_url(**kwargs)["QueueUrl"]
        return self._urls[channel]

    def queue_attributes(self, channel: Channel) -> dict[str, str]:
        url = self.queue_url(channel)
        with aws_errors(f"cannot read the attributes of {channel}"):
            response = self.client_for(channel).get_queue_attributes(QueueUrl=url, AttributeNames=["All"])
        return dict(response["Attributes"])

    @property
    def region(self) -> str:
        """The default region: that of a queue named without one."""
        return self._clients.region

    def list_channels(self, prefix: str | None = None) -> Iterator[ChannelSummary]:
        yield from (s for s in parallel_map(self._summary_of, self.queue_urls(prefix)) if s is not None)

    def queue_urls(self, prefix: str | None = None) -> list[str]:
        """The URLs of every queue (whose name starts with ``prefix``), by name."""
        paginator = self._sqs.get_paginator("list_queues")
        # Without MaxResults, ListQueues returns at most 1,000 queues and no NextToken.
        kwargs: dict[str, Any] = {"PaginationConfig": {"PageSize": 1000}}
        if prefix:
            kwargs["QueueNamePrefix"] = prefix
        with aws_errors("cannot list SQS queues"):
            urls = [url for page in paginator.paginate(**kwargs) for url in page.get("QueueUrls", [])]
        return sorted(urls, key=lambda u: u.rsplit("/", 1)[-1])

    def _summary_of(self, url: str) -> ChannelSummary | None:
        """The queue's summary; None when it was deleted while we were listing."""
        try:
            with aws_errors("cannot read queue attributes"):
                attributes = self._sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])
        except NotFoundError:
            return None
        return _summary(url.rsplit("/", 1)[-1], attributes.get("Attributes", {}))

    def stats(self, channel: Channel) -> ChannelStats:
        attributes = self.queue_attributes(channel)
        return ChannelStats(
            summary=_summary(channel.name, attributes),
            oldest_age_s=self._oldest_age(channel),
            details={
                "fifo": channel.fifo,
                "url": self.queue_url(channel),
                "attributes": attributes,
            },
        )

    def _oldest_age(self, channel: Channel) -> float | None:
        """ApproximateAgeOfOldestMessage from CloudWatch, or None where CloudWatch has no datapoint."""
        try:
            ages = self.metric_values(
                [channel.name], "ApproximateAgeOfOldestMessage", "Maximum", channel.region
            )
        except Exception:  # CloudWatch is a bonus: no permission or no metric is not an error
            return None
        return ages.get(channel.name)

    def metric_values(
        self, names: list[str], metric: str, stat: str, region: str | None = None
    ) -> dict[str, float]:
        """The newest value of an AWS/SQS metric of each queue (of ``region``, default this one) that has
        one (at most 500 queues a call: GetMetricData's limit); none where CloudWatch cannot be read."""
        now = datetime.now(UTC)
        queries = [
            {
                "Id": f"q{n}",
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/SQS",
                        "MetricName": metric,
                        "Dimensions": [{"Name": "QueueName", "Value": name}],
                    },
                    "Period": 60,
                    "Stat": stat,
                },
                "ReturnData": True,
            }
            for n, name in enumerate(names)
        ]
        found: dict[str, float] = {}
        kwargs: dict[str, Any] = {
            "MetricDataQueries": queries,
            "StartTime": now - METRIC_WINDOW,
            "EndTime": now + timedelta(minutes=1),  # the current minute is still open
            "ScanBy": "TimestampDescending",
        }
        try:
            with aws_errors("CloudWatch"):
                while True:
                    response = self._clients.client("cloudwatch", region).get_metric_data(**kwargs)
                    for result in response.get("MetricDataResults", []):
                        values = result.get("Values") or []
                        name = names[int(result["Id"][1:])]
                        if values and name not in found:
                            found[name] = float(values[0])  # the newest first
                    if not response.get("NextToken"):
                        return found
                    kwargs["NextToken"] = response["NextToken"]
        except MsgctlError:
            return found  # no permission or no CloudWatch: the values are unknown, and say so

    def send(self, channel: Channel, message: OutgoingMessage) -> SendReceipt:
        request = send_request(message, "MessageBody", to_sqs_attribute, "SQS")
        with aws_errors(f"cannot send to {channel}"):
            response = self.client_for(channel).send_message(QueueUrl=self.queue_url(channel), **request)
        return SendReceipt(str(channel), response.get("MessageId"), response.get("SequenceNumber"))

    def purge(self, channel: Channel) -> None:
        """PurgeQueue: deletes the visible, the in-flight and the delayed messages alike."""
        with aws_errors(f"cannot purge {channel}"):
            self.client_for(channel).purge_queue(QueueUrl=self.queue_url(channel))

    def close(self) -> None:
        pass


def release(client: Any, url: str, receipts: list[str], what: str) -> None:
    """Make received messages visible again at once (visibility 0), ten receipts a call."""
    for start in range(0, len(receipts), 10):
        entries = [
            {"Id": str(n), "ReceiptHandle": receipt, "VisibilityTimeout": 0}
            for n, receipt in enumerate(receipts[start : start + 10])
        ]
        with aws_errors(f"cannot release held messages of {what}"):
            client.change_message_visibility_batch(QueueUrl=url, Entries=entries)


def queue_counts(client: Any, url: str, what: str) -> tuple[int, int]:
    """ApproximateNumberOfMessages (visible) and ApproximateNumberOfMessagesNotVisible (in flight)."""
    with aws_errors(f"cannot read {what}"):
        attributes = client.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
    return (
        int(attributes.get("ApproximateNumberOfMessages", 0)),
        int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
    )


def to_sqs_attribute(name: str, attr: MessageAttribute) -> dict[str, Any]:
    value = to_sqs_value(name, attr)
    if isinstance(value, bytes):
        return {"DataType": attr.type, "BinaryValue": value}
    return {"DataType": attr.type, "StringValue": value}


def to_sqs_value(name: str, attr: MessageAttribute) -> str | bytes:
    """SQS takes String.Array as a String of custom type Array: its text goes as it is, a list is refused."""
    if isinstance(attr.value, list):
        raise UsageError(f"attribute {name!r}: SQS has no String.Array type (SNS only)")
    return attr.value if isinstance(attr.value, bytes) else str(attr.value)


def _summary(name: str, attributes: dict[str, str]) -> ChannelSummary:
    depth, in_flight, delayed = (_int(attributes.get(key)) for key in _INT_ATTRIBUTES)
    return ChannelSummary(
        channel=f"sqs:{name}",
        kind="queue",
        depth=depth,
        in_flight=in_flight,
        delayed=delayed,
        dlq=dead_letter_target(attributes.get("RedrivePolicy")),
    )


def max_receive_count(attributes: dict[str, str]) -> int | None:
    """The receives after which the queue dead-letters a message (None: it has no DLQ)."""
    policy = json.loads(attributes["RedrivePolicy"]) if attributes.get("RedrivePolicy") else {}
    return int(policy["maxReceiveCount"]) if policy else None


def dead_letter_target(redrive_policy: str | None) -> str | None:
    """The DLQ a RedrivePolicy names, as ``sqs:NAME``."""
    if not redrive_policy:
        return None
    try:
        target = json.loads(redrive_policy).get("deadLetterTargetArn")
    except (ValueError, AttributeError):
        return None
    return f"sqs:{arn_name(target)}" if target else None


def _int(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() else None
