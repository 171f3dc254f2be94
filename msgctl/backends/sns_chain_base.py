"""What the SNS chain planner, inspector and deleter share: the AWS clients, reading a topic, a queue and the
topic's subscriptions as they are, and the change that sets a queue's attributes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from msgctl.backends.aws import AwsClients, arn_name, aws_errors
from msgctl.core.parallel import parallel_map
from msgctl.errors import NotFoundError

AWS_MANAGED_SQS_KEY = "alias/aws/sqs"


@dataclass
class ChainQueue:
    """A queue as read: ``attributes`` None when it does not exist (its ARN is then the expected one)."""

    name: str
    arn: str
    url: str | None
    attributes: dict[str, str] | None

    @property
    def exists(self) -> bool:
        return self.attributes is not None

    def attr(self, key: str, default: str = "") -> str:
        return (self.attributes or {}).get(key, default)

    @property
    def fifo(self) -> bool:
        return self.attr("FifoQueue", "false").lower() == "true"


class SnsChainBase:
    """Reads a chain's topic, queues and subscriptions as they are; what is missing reads as None."""

    def __init__(self, clients: AwsClients) -> None:
        self._clients = clients

    @property
    def _sns(self) -> Any:
        return self._clients.client("sns")

    @property
    def _sqs(self) -> Any:
        return self._clients.client("sqs")

    def _topic_attributes(self, topic_arn: str) -> dict[str, str] | None:
        try:
            with aws_errors(f"cannot read topic {arn_name(topic_arn)}"):
                return dict(self._sns.get_topic_attributes(TopicArn=topic_arn)["Attributes"])
        except NotFoundError:
            return None

    def _queue(self, name: str) -> ChainQueue:
        arn = self._clients.arn("sqs", name)
        try:
            with aws_errors(f"cannot find queue {name}"):
                url = self._sqs.get_queue_url(QueueName=name)["QueueUrl"]
            with aws_errors(f"cannot read queue {name}"):
                attributes = self._sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])[
                    "Attributes"
                ]
        except NotFoundError:
            return ChainQueue(name, arn, None, None)
        return ChainQueue(name, attributes.get("QueueArn", arn), url, dict(attributes))

    def _subscriptions(self, topic_arn: str) -> list[dict[str, Any]]:
        with aws_errors(f"cannot list the subscriptions of {arn_name(topic_arn)}"):
            subscriptions = [
                sub
                for page in self._sns.get_paginator("list_subscriptions_by_topic").paginate(
                    TopicArn=topic_arn
                )
                for sub in page.get("Subscriptions", [])
            ]
        read = parallel_map(self._subscription_attributes, subscriptions)
        for sub, attributes in zip(subscriptions, read, strict=True):
            sub["Attributes"] = attributes
        return subscriptions

    def _subscription_attributes(self, sub: dict[str, Any]) -> dict[str, str]:
        """A confirmed subscription's attributes; none for one pending confirmation (it has no ARN yet)."""
        if not sub.get("SubscriptionArn", "").startswith("arn:"):
            return {}
        with aws_errors("cannot read a subscription"):
            return dict(
                self._sns.get_subscription_attributes(SubscriptionArn=sub["SubscriptionArn"])["Attributes"]
            )

    def _kms_problem(self, key_id: str) -> str | None:
        """Why SNS cannot use this key, or None when it can (or we cannot tell)."""
        if not key_id:
            return None
        if key_id in (AWS_MANAGED_SQS_KEY, f"{AWS_MANAGED_SQS_KEY}".replace("alias/", "")):
            return f"encrypted with {AWS_MANAGED_SQS_KEY}, an AWS managed key whose policy SNS cannot use"
        try:
            with aws_errors("KMS"):
                metadata = self._clients.client("kms").describe_key(KeyId=key_id)["KeyMetadata"]
        except Exception:  # no KMS permission: the static check cannot decide, delivery will tell
            return None
        if metadata.get("KeyManager") == "AWS":
            return f"encrypted with the AWS managed key {key_id}, whose policy SNS cannot use"
        return None

    def _setter(self, queue: ChainQueue, attributes: dict[str, str]) -> Any:
        def update() -> None:
            with aws_errors(f"cannot update queue {queue.name}"):
                self._sqs.set_queue_attributes(QueueUrl=queue.url, Attributes=attributes)

        return update


def json_object(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
