"""``sandbox up --seed``: a small topic-queue chain and a DLQ with real dead letters on each broker."""

from __future__ import annotations

import json
from typing import Any

from msgctl.sandbox import ACCESS_KEY, REGION, SECRET_KEY, SandboxState

TOPIC = "orders"
CONSUMERS = ("billing", "shipping")
MAX_RECEIVE_COUNT = 3
ORDERS: list[dict[str, Any]] = [
    {"order": n, "amount": amount} for n, amount in ((1001, 25.5), (1002, 310.0), (1003, 42.0))
]
DEAD_ORDERS: list[dict[str, Any]] = [{"order": 990, "amount": -1}, {"order": 991, "amount": "NaN"}]


def seed(state: SandboxState) -> list[str]:
    """Create the demo channels; returns the channel addresses it filled."""
    created: list[str] = []
    if "aws" in state.servers:
        created += _seed_aws(state.servers["aws"].url)
    if "amq" in state.servers:
        created += _seed_activemq(state.servers["amq"].url)
    return created


def _seed_aws(endpoint: str) -> list[str]:
    import boto3

    kwargs: dict[str, Any] = dict(
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    )
    sqs, sns = boto3.client("sqs", **kwargs), boto3.client("sns", **kwargs)
    topic_arn = sns.create_topic(Name=TOPIC)["TopicArn"]
    for consumer in CONSUMERS:
        name = f"{TOPIC}-{consumer}"
        dlq_url = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
        dlq_arn = _queue_arn(sqs, dlq_url)
        redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVE_COUNT}
        url = sqs.create_queue(QueueName=name, Attributes={"RedrivePolicy": json.dumps(redrive)})["QueueUrl"]
        queue_arn = _queue_arn(sqs, url)
        sqs.set_queue_attributes(
            QueueUrl=url, Attributes={"Policy": json.dumps(_topic_may_send(topic_arn, queue_arn))}
        )
        sns.subscribe(
            TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"}
        )
    billing = sqs.get_queue_url(QueueName=f"{TOPIC}-billing")["QueueUrl"]
    for order in DEAD_ORDERS:  # poison first, while nothing else is in the queue to be received
        sqs.send_message(
            QueueUrl=billing,
            MessageBody=json.dumps(order),
            MessageAttributes={"kind": {"DataType": "String", "StringValue": "order"}},
        )
    _dead_letter(sqs, billing)
    for order in ORDERS:
        sns.publish(
            TopicArn=topic_arn,
            Message=json.dumps(order),
            MessageAttributes={
                "kind": {"DataType": "String", "StringValue": "order"},
                "amount": {"DataType": "Number", "StringValue": str(order["amount"])},
            },
        )
    fifo_url = sqs.create_queue(
        QueueName="payments.fifo", Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"}
    )["QueueUrl"]
    for n, group in enumerate(("customer-1", "customer-2", "customer-1", "customer-3")):
        sqs.send_message(QueueUrl=fifo_url, MessageBody=json.dumps({"payment": n}), MessageGroupId=group)
    return [
        f"sns:{TOPIC}",
        *(f"sqs:{TOPIC}-{c}" for c in CONSUMERS),
        f"sqs:{TOPIC}-billing-dlq",
        "sqs:payments.fifo",
    ]


def _dead_letter(sqs: Any, url: str) -> None:
    """Receive every message of the queue past maxReceiveCount so SQS itself moves them to the DLQ."""
    for _ in range(4 * (MAX_RECEIVE_COUNT + 1)):
        if not sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0).get("Messages"):
            return


def _queue_arn(sqs: Any, url: str) -> str:
    return str(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])


def _topic_may_send(topic_arn: str, queue_arn: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "msgctl-sns-send",
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
            }
        ],
    }


def _seed_activemq(url: str) -> list[str]:
    from msgctl.backends.stomp_session import StompSession
    from msgctl.broker import BrokerTarget, parse_broker_urls

    with StompSession(BrokerTarget(parse_broker_urls(url))) as session:
        for consumer in CONSUMERS:  # a virtual topic forwards only to consumer queues that exist
            sub_id, _ = session.subscribe(f"/queue/Consumer.{consumer}.VirtualTopic.{TOPIC}")
            session.unsubscribe(sub_id)
        for order in ORDERS:
            session.send(
                f"/topic/VirtualTopic.{TOPIC}",
                json.dumps(order).encode(),
                {"persistent": "true", "kind": "order", "amount": str(order["amount"])},
            )
        for dead in DEAD_ORDERS:
            session.send(
                "/queue/payments", json.dumps(dead).encode(), {"persistent": "true", "kind": "order"}
            )
        sub_id, inbox = session.subscribe("/queue/payments", ack="client-individual")
        try:
            for _ in DEAD_ORDERS:
                session.nack(session.receive(inbox, "amq:queue/payments"))
        finally:
            session.unsubscribe(sub_id)
    return [
        f"amq:topic/VirtualTopic.{TOPIC}",
        *(f"amq:queue/Consumer.{c}.VirtualTopic.{TOPIC}" for c in CONSUMERS),
        "amq:queue/DLQ.payments",
    ]
