"""Queue policies: does a policy let a topic send, and merging never drops other statements."""

import json

import pytest

from msgctl.core.chains import dlq_name
from msgctl.core.queue_policy import (
    allow_topic_statement,
    merge_statement,
    policy_allows_topic,
    remove_statement,
)

QUEUE = "arn:aws:sqs:us-east-1:123456789012:orders"
TOPIC = "arn:aws:sns:us-east-1:123456789012:events"
OTHER_TOPIC = "arn:aws:sns:us-east-1:123456789012:other"


def _policy(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _allow(**overrides):
    statement = {
        "Effect": "Allow",
        "Principal": {"Service": "sns.amazonaws.com"},
        "Action": "sqs:SendMessage",
        "Resource": QUEUE,
        "Condition": {"ArnEquals": {"aws:SourceArn": TOPIC}},
    }
    statement.update(overrides)
    return statement


@pytest.mark.parametrize(
    ("policy", "allowed"),
    [
        (None, False),
        (_policy(), False),
        (_policy(_allow()), True),
        (_policy(_allow(Action=["sqs:*"])), True),
        (_policy(_allow(Principal="*")), True),
        (_policy(_allow(Resource="arn:aws:sqs:us-east-1:123456789012:*")), True),
        (
            _policy(_allow(Condition={"ArnLike": {"aws:SourceArn": "arn:aws:sns:us-east-1:123456789012:*"}})),
            True,
        ),
        (_policy(_allow(Condition={"ArnEquals": {"aws:SourceArn": OTHER_TOPIC}})), False),
        (_policy(_allow(Principal={"Service": "lambda.amazonaws.com"})), False),
        (_policy(_allow(Action="sqs:ReceiveMessage")), False),
        (_policy(_allow(Resource="arn:aws:sqs:us-east-1:123456789012:billing")), False),
        (_policy(_allow(), _allow(Effect="Deny")), False),
        (_policy(_allow(Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}})), False),
    ],
)
def test_policy_allows_topic(policy, allowed) -> None:
    assert policy_allows_topic(policy, QUEUE, TOPIC) is allowed


def test_merge_keeps_other_statements_and_is_idempotent() -> None:
    other = {"Sid": "ops", "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sqs:ReceiveMessage"}
    statement = allow_topic_statement(QUEUE, TOPIC)
    merged = merge_statement(_policy(other), statement)
    assert json.loads(merged)["Statement"] == [other, statement]
    assert merge_statement(merged, statement) == merged
    assert policy_allows_topic(merged, QUEUE, TOPIC)
    removed = remove_statement(merged, statement["Sid"])
    assert json.loads(removed)["Statement"] == [other]


def test_dlq_names_keep_the_fifo_suffix() -> None:
    assert dlq_name("orders") == "orders-dlq"
    assert dlq_name("orders.fifo") == "orders-dlq.fifo"
