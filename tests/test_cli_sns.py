"""SNS topics against a real moto server."""

import json

from msgctl.errors import ExitCode


def _topic_with_queues(sqs, sns, name, count):
    arn = sns.create_topic(Name=name)["TopicArn"]
    urls = []
    for n in range(count):
        url = sqs.create_queue(QueueName=f"{name}-q{n}")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        sns.subscribe(
            TopicArn=arn, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"}
        )
        urls.append(url)
    return arn, urls


def test_ls_counts_subscriptions(invoke, aws, sqs, sns, unique) -> None:
    _topic_with_queues(sqs, sns, unique, 2)
    sns.create_topic(Name=f"{unique}-empty")
    result = invoke("ls", "sns", "--prefix", unique, "-o", "json")
    assert result.exit_code == 0, result.stderr
    rows = {row["channel"]: row for row in json.loads(result.stdout)}
    truth = {
        f"sns:{unique}": 2,
        f"sns:{unique}-empty": 0,
    }
    assert {channel: row["subscriptions"] for channel, row in rows.items()} == truth
    assert all(row["kind"] == "topic" and row["depth"] is None for row in rows.values())


def test_stats_lists_subscriptions(invoke, aws, sqs, sns, unique) -> None:
    arn, _ = _topic_with_queues(sqs, sns, unique, 1)
    result = invoke("stats", f"sns:{unique}", "-o", "json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["arn"] == arn
    assert doc["subscriptions"] == 1
    assert doc["subscription_list"][0]["endpoint"].endswith(f":{unique}-q0")


def test_publish_reaches_subscribed_queues_with_attributes(invoke, aws, sqs, sns, unique) -> None:
    _, urls = _topic_with_queues(sqs, sns, unique, 2)
    result = invoke(
        "send",
        f"sns:{unique}",
        "hello",
        "--attr",
        "kind=alert",
        "--attr",
        'tags:String.Array=["a","b"]',
        "-o",
        "json",
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["id"]
    for url in urls:
        message = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"])["Messages"][0]
        assert message["Body"] == "hello"
        assert message["MessageAttributes"]["kind"]["StringValue"] == "alert"
        assert json.loads(message["MessageAttributes"]["tags"]["StringValue"]) == ["a", "b"]


def test_missing_topic_exits_4(invoke, aws, unique) -> None:
    result = invoke("stats", f"sns:{unique}")
    assert result.exit_code == ExitCode.NOT_FOUND
    assert len(result.stderr.strip().splitlines()) == 1
    assert invoke("send", f"sns:{unique}", "x").exit_code == ExitCode.NOT_FOUND
