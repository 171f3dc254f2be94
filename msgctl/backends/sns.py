"""Amazon SNS through boto3."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from msgctl.address import Channel
from msgctl.backends.aws import AwsClients, arn_name, aws_errors, partition_of, send_request
from msgctl.core.parallel import parallel_map
from msgctl.core.ports import Capabilities, ChannelStats, ChannelSummary, OutgoingMessage, SendReceipt
from msgctl.envelope import MessageAttribute
from msgctl.errors import NotFoundError, UsageError


class SnsBackend:
    service = "sns"
    capabilities = Capabilities(fifo=True, binary_attributes=True, array_attributes=True)

    def __init__(self, clients: AwsClients) -> None:
        self._clients = clients
        self._arns: dict[Channel, str] = {}

    @property
    def _sns(self) -> Any:
        return self._clients.client("sns")

    def client_for(self, channel: Channel) -> Any:
        return self._clients.client("sns", channel.region)

    def topic_arn(self, channel: Channel) -> str:
        """The topic's ARN; raises NotFoundError when the topic does not exist."""
        if channel not in self._arns:
            if channel.region and channel.account:
                partition, region = partition_of(channel.region), channel.region
                arn = f"arn:{partition}:sns:{region}:{channel.account}:{channel.name}"
            else:
                arn = self._clients.arn("sns", channel.name)
            self._topic_attributes(arn, channel)
            self._arns[channel] = arn
        return self._arns[channel]

    def _topic_attributes(self, arn: str, channel: Channel | str) -> dict[str, str]:
        client = self.client_for(channel) if isinstance(channel, Channel) else self._sns
        with aws_errors(f"cannot look up {channel}"):
            return dict(client.get_topic_attributes(TopicArn=arn)["Attributes"])

    def list_channels(self, prefix: str | None = None) -> Iterator[ChannelSummary]:
        yield from (s for s in parallel_map(self._summary_of, self.topic_arns(prefix)) if s is not None)

    def topic_arns(self, prefix: str | None = None) -> list[str]:
        """The ARNs of every topic (whose name starts with ``prefix``), by name."""
        with aws_errors("cannot list SNS topics"):
            arns = [
                topic["TopicArn"]
                for page in self._sns.get_paginator("list_topics").paginate()
                for topic in page.get("Topics", [])
            ]
        return sorted((arn for arn in arns if not prefix or arn_name(arn).startswith(prefix)), key=arn_name)

    def _summary_of(self, arn: str) -> ChannelSummary | None:
        """The topic's summary; None when it was deleted while we were listing."""
        try:
            subscriptions = self._subscriptions(arn, f"sns:{arn_name(arn)}")
        except NotFoundError:
            return None
        return _summary(arn_name(arn), len(subscriptions))

    def _subscriptions(self, arn: str, channel: Channel | str) -> list[dict[str, Any]]:
        # Counted from the list: the topic's SubscriptionsConfirmed attribute lags (and moto leaves it 0).
        client = self.client_for(channel) if isinstance(channel, Channel) else self._sns
        with aws_errors(f"cannot list the subscriptions of {channel}"):
            return [
                {
                    "arn": sub.get("SubscriptionArn"),
                    "protocol": sub.get("Protocol"),
                    "endpoint": sub.get("Endpoint"),
                }
                for page in client.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=arn)
                for sub in page.get("Subscriptions", [])
            ]

    def stats(self, channel: Channel) -> ChannelStats:
        arn = self.topic_arn(channel)
        attributes = self._topic_attributes(arn, channel)
        subscriptions = self._subscriptions(arn, channel)
        return ChannelStats(
            summary=_summary(channel.name, len(subscriptions)),
            details={
                "fifo": channel.fifo,
                "arn": arn,
                "attributes": attributes,
                "subscription_list": subscriptions,
            },
        )

    def send(self, channel: Channel, message: OutgoingMessage) -> SendReceipt:
        request = send_request(message, "Message", to_sns_attribute, "SNS")
        with aws_errors(f"cannot publish to {channel}"):
            response = self.client_for(channel).publish(TopicArn=self.topic_arn(channel), **request)
        return SendReceipt(str(channel), response.get("MessageId"), response.get("SequenceNumber"))

    # Subscription filter policies ----------------------------------------------------------------------

    def find_subscription(self, topic: Channel, queue: Channel) -> str:
        """The ARN of the topic's subscription that delivers to this queue."""
        endpoint = queue_arn(self._clients, queue)
        for sub in self._subscriptions(self.topic_arn(topic), topic):
            if sub["endpoint"] == endpoint and str(sub["arn"]).startswith("arn:"):
                return str(sub["arn"])
        raise NotFoundError(f"{topic} has no confirmed subscription for {queue}")

    def subscription_filter(self, subscription_arn: str) -> tuple[dict[str, Any] | None, str]:
        """The subscription's filter policy (None when it has none) and its scope."""
        attributes = self._subscription_attributes(subscription_arn)
        policy = json.loads(attributes["FilterPolicy"]) if attributes.get("FilterPolicy") else None
        scope = "body" if attributes.get("FilterPolicyScope") == "MessageBody" else "attributes"
        return (policy or None), scope

    def set_subscription_filter(
        self, subscription_arn: str, policy: dict[str, Any] | None, scope: str
    ) -> None:
        client = self._client_for_arn(subscription_arn)
        with aws_errors(f"cannot set the filter policy of {subscription_arn}"):
            if policy is not None:
                client.set_subscription_attributes(
                    SubscriptionArn=subscription_arn,
                    AttributeName="FilterPolicyScope",
                    AttributeValue="MessageBody" if scope == "body" else "MessageAttributes",
                )
            # An empty JSON object removes the policy (the SNS documentation's way to detach one).
            client.set_subscription_attributes(
                SubscriptionArn=subscription_arn,
                AttributeName="FilterPolicy",
                AttributeValue=json.dumps(policy) if policy is not None else "{}",
            )

    def topic_subscriptions(self, topic: Channel) -> list[dict[str, Any]]:
        """Every subscription of the topic with its filter policy and scope."""
        found = []
        for sub in self._subscriptions(self.topic_arn(topic), topic):
            policy, scope = (None, "attributes")
            if str(sub["arn"]).startswith("arn:"):
                policy, scope = self.subscription_filter(str(sub["arn"]))
            found.append({**sub, "filter_policy": policy, "filter_scope": scope})
        return found

    def _subscription_attributes(self, subscription_arn: str) -> dict[str, str]:
        with aws_errors(f"cannot look up subscription {subscription_arn}"):
            response = self._client_for_arn(subscription_arn).get_subscription_attributes(
                SubscriptionArn=subscription_arn
            )
        return dict(response["Attributes"])

    def _client_for_arn(self, arn: str) -> Any:
        parts = arn.split(":")
        if len(parts) < 6 or parts[2] != "sns":
            raise UsageError(f"not an SNS subscription ARN: {arn!r}")
        return self._clients.client("sns", parts[3])

    def close(self) -> None:
        pass


def queue_arn(clients: AwsClients, queue: Channel) -> str:
    if queue.region and queue.account:
        return f"arn:{partition_of(queue.region)}:sqs:{queue.region}:{queue.account}:{queue.name}"
    return clients.arn("sqs", queue.name)


def to_sns_attribute(name: str, attr: MessageAttribute) -> dict[str, Any]:
    if isinstance(attr.value, bytes):
        return {"DataType": attr.type, "BinaryValue": attr.value}
    if attr.base_type == "String.Array":
        return {"DataType": attr.type, "StringValue": sns_array_text(name, attr.value)}
    return {"DataType": attr.type, "StringValue": attr.value}


def sns_array_text(name: str, value: str | list[Any]) -> str:
    """SNS's rule for String.Array: a JSON array of strings, numbers, true, false or null. A text (as SQS
    holds it) goes unchanged when it follows the rule."""
    items: Any = value
    if isinstance(value, str):
        try:
            items = json.loads(value)
        except ValueError:
            items = None
    if not isinstance(items, list) or not all(
        item is None or isinstance(item, str | int | float | bool) for item in items
    ):
        raise UsageError(
            f"attribute {name!r}: an SNS String.Array is a JSON array of strings, numbers, booleans or null"
        )
    return value if isinstance(value, str) else json.dumps(value)


def _summary(name: str, subscription_count: int) -> ChannelSummary:
    return ChannelSummary(channel=f"sns:{name}", kind="topic", subscriptions=subscription_count)
