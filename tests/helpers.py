"""Helpers that read a broker directly, as ground truth for the tests, and run msgctl processes."""

import json
import os
import sys
import time


def drain(sqs, url, expected, timeout=30):
    """Receive and delete everything; returns the messages in receive order."""
    messages, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        batch = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not batch and len(messages) >= expected:
            break
        messages += batch
        if batch:
            entries = [{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(batch)]
            failed = sqs.delete_message_batch(QueueUrl=url, Entries=entries).get("Failed")
            assert not failed, f"drain could not delete: {failed}"
    return messages


def depth(sqs, url):
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def amq_depth(invoke, name):
    result = invoke("stats", f"amq:queue/{name}", "-o", "json")
    return json.loads(result.stdout)["depth"] if result.exit_code == 0 else None


def wait_depth(invoke, name, depth):
    deadline = time.monotonic() + 15
    while amq_depth(invoke, name) != depth:
        assert time.monotonic() < deadline, f"{name} did not reach depth {depth}: {amq_depth(invoke, name)}"
        time.sleep(0.1)


def subscribed(stomp_conn, name, sub_id, ack):
    """Subscribe to a queue; returns the queue the delivered frames land in."""
    import queue as queue_module

    frames: queue_module.Queue = queue_module.Queue()

    class Collector:
        def on_message(self, frame) -> None:
            frames.put(frame)

    stomp_conn.set_listener(sub_id, Collector())
    stomp_conn.subscribe(f"/queue/{name}", id=sub_id, ack=ack)
    return frames


def consume_all(stomp_conn, name, count):
    frames = subscribed(stomp_conn, name, "drain", "auto")
    received = [frames.get(timeout=10) for _ in range(count)]
    stomp_conn.unsubscribe("drain")
    stomp_conn.remove_listener("drain")
    return received


def boto3_client(service, endpoint):
    import boto3

    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing-secret",
    )


def dead_letter_pair(sqs, name, count, fifo=False, groups=1, attributes=None):
    """A queue and its DLQ holding `count` dead letters; returns (queue url, dlq url, {source id: n})."""
    suffix = ".fifo" if fifo else ""
    fifo_attributes = {"FifoQueue": "true"} if fifo else {}
    dlq = sqs.create_queue(QueueName=f"{name}-dlq{suffix}", Attributes=fifo_attributes)["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5})
    url = sqs.create_queue(
        QueueName=f"{name}{suffix}", Attributes={"RedrivePolicy": redrive, **fifo_attributes}
    )["QueueUrl"]
    ids = {}
    for start in range(0, count, 10):
        entries = []
        for n in range(start, min(start + 10, count)):
            entry = {
                "Id": str(n),
                "MessageBody": json.dumps({"n": n, "kind": "even" if n % 2 == 0 else "odd"}),
                "MessageAttributes": {
                    **(attributes or {}),
                    "kind": {"DataType": "String", "StringValue": "even" if n % 2 == 0 else "odd"},
                },
            }
            if fifo:
                entry |= {"MessageGroupId": f"g{n % groups}", "MessageDeduplicationId": f"d{n}"}
            entries.append(entry)
        answer = sqs.send_message_batch(QueueUrl=dlq, Entries=entries)
        assert not answer.get("Failed"), f"the DLQ refused some of the messages set up: {answer['Failed']}"
        for result in answer["Successful"]:
            ids[result["MessageId"]] = int(result["Id"])
    counts = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])
    assert counts["Attributes"]["ApproximateNumberOfMessages"] == str(count), f"the DLQ shows {counts}"
    return url, dlq, ids


def queue_subscription(sqs, sns, name):
    """A topic and a queue named ``name``, the queue subscribed with raw delivery: (topic ARN, queue URL,
    subscription ARN)."""
    topic_arn = sns.create_topic(Name=name)["TopicArn"]
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    arn = sns.subscribe(
        TopicArn=topic_arn,
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes={"RawMessageDelivery": "true"},
        ReturnSubscriptionArn=True,
    )["SubscriptionArn"]
    return topic_arn, url, arn


def fill_fifo_groups(sqs, url, sizes, gap_s=0.0):
    """Each group's messages (bodies and deduplication ids GROUP-N) in batches of ten, the groups ``gap_s``
    apart, so that the order of their heads by age is known; returns when each group's head was sent."""
    head_sent = {}
    for group, size in sizes.items():
        head_sent[group] = time.time()
        for start in range(0, size, 10):
            sqs.send_message_batch(
                QueueUrl=url,
                Entries=[
                    {"Id": str(n), "MessageBody": f"{group}-{n}", "MessageGroupId": group,
                     "MessageDeduplicationId": f"{group}-{n}"}
                    for n in range(start, min(size, start + 10))
                ],
            )  # fmt: skip
        time.sleep(gap_s)
    return head_sent


def msgctl_env(endpoint: str) -> dict[str, str]:
    """The environment of a msgctl process pointed at ``endpoint``."""
    return {
        **os.environ,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing-secret",
    }


def msgctl_command(*args: str) -> list[str]:
    """A msgctl process's command line, JSON output."""
    return [sys.executable, "-m", "msgctl", "-o", "json", *args]
