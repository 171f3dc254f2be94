"""What check reads of SNS topics: their subscriptions and tags (in parallel), whether each HTTP or e-mail
subscription is confirmed, and whether each queue a subscription delivers to still exists."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from msgctl.address import AddressError, Channel, endpoint_name, parse_channel
from msgctl.backends.aws import arn_name, aws_errors
from msgctl.backends.sns import SnsBackend
from msgctl.backends.sqs import SqsBackend
from msgctl.backends.sqs_health import GONE, read_error
from msgctl.core.health import Measure
from msgctl.core.parallel import parallel_map
from msgctl.errors import MsgctlError, NotFoundError

PENDING = "PendingConfirmation"
CONFIRMED_BY_OWNER = frozenset({"http", "https", "email", "email-json"})


@dataclass(eq=False)
class _Topic:
    channel: str
    arn: str = ""
    subscriptions: list[dict[str, Any]] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    error: str | None = None


def measure_topics(
    sns: SnsBackend, sqs: SqsBackend, channels: list[Channel] | None, prefix: str | None
) -> list[Measure]:
    """Every topic (with ``prefix``) when ``channels`` is None, else the named ones."""
    if channels is None:
        topics = [_Topic(f"sns:{arn_name(arn)}", arn) for arn in sns.topic_arns(prefix)]
    else:
        topics = parallel_map(lambda channel: _named(sns, channel), channels)
    topics = [t for t in parallel_map(lambda topic: _read(sns, topic, channels is not None), topics) if t]
    # Only a queue of the topic's own account is looked up: of another one's, SQS cannot tell a queue that
    # is gone from one this caller may not see.
    queues = sorted(
        {
            s["Endpoint"]
            for t in topics
            for s in t.subscriptions
            if _same_account(t.arn, s) and s.get("Protocol") == "sqs"
        }
    )
    exists = parallel_map(lambda queue: _exists(sqs, queue), queues)
    gone = {queue for queue, there in zip(queues, exists, strict=True) if not there}
    return [_measure(topic, gone) for topic in topics]


def _named(sns: SnsBackend, channel: Channel) -> _Topic:
    try:
        return _Topic(str(channel), sns.topic_arn(channel))
    except MsgctlError as exc:
        return _Topic(str(channel), error=str(exc))


def _read(sns: SnsBackend, topic: _Topic, named: bool) -> _Topic | None:
    if topic.error is not None:
        return topic
    client = sns.client_for(parse_channel(topic.arn))

    def read() -> None:
        with aws_errors(f"cannot read {topic.channel}"):
            topic.subscriptions = [
                sub
                for page in client.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic.arn)
                for sub in page.get("Subscriptions", [])
            ]
            tags = client.list_tags_for_resource(ResourceArn=topic.arn).get("Tags", [])
            topic.tags = {tag["Key"]: tag["Value"] for tag in tags}
            for sub in topic.subscriptions:
                sub["pending"] = _pending(client, sub)

    topic.error = read_error(read, named)
    return None if topic.error is GONE else topic


def _pending(client: Any, subscription: dict[str, Any]) -> bool:
    """AWS lists a subscription not yet confirmed as PendingConfirmation; emulators list its ARN, and say
    so in its attributes (read only for the protocols that are confirmed by the endpoint's owner)."""
    arn = str(subscription.get("SubscriptionArn", ""))
    if arn == PENDING or subscription.get("Protocol") not in CONFIRMED_BY_OWNER or not arn.startswith("arn:"):
        return arn == PENDING
    try:
        attributes = client.get_subscription_attributes(SubscriptionArn=arn).get("Attributes", {})
    except Exception:  # unsubscribed meanwhile, or not readable here: not known to be pending
        return False
    return str(attributes.get("PendingConfirmation", "false")).lower() == "true"


def _same_account(topic_arn: str, subscription: dict[str, Any]) -> bool:
    queue, topic = str(subscription.get("Endpoint", "")).split(":"), topic_arn.split(":")
    return len(queue) > 4 and len(topic) > 4 and queue[4] == topic[4]


def _exists(sqs: SqsBackend, queue_arn: str) -> bool:
    try:
        sqs.queue_url(parse_channel(queue_arn))
    except NotFoundError:
        return False
    except (MsgctlError, AddressError):
        return True  # not known to be gone (no permission, another account): not reported
    return True


def _measure(topic: _Topic, gone: set[str]) -> Measure:
    if topic.error is not None:
        return Measure(topic.channel, "topic", error=topic.error)
    problems, broken = [], 0
    for sub in topic.subscriptions:
        target = endpoint_name(sub.get("Protocol", ""), sub.get("Endpoint", ""))
        if sub.get("Protocol") == "sqs" and sub.get("Endpoint") in gone:
            problems.append(f"{target} does not exist: what the topic delivers to it is lost")
            broken += 1
        elif sub.get("pending"):
            problems.append(f"{target} is pending confirmation")
    return Measure(
        channel=topic.channel,
        kind="topic",
        subscription_problems=tuple(problems),
        broken_subscriptions=broken,
        tags=topic.tags,
    )
