"""Fields beyond body and plain attributes on every SQS path: the AWSTraceHeader system attribute (X-Ray),
String.Array attributes as SQS holds them (a String of custom type Array, whatever its text), and the SNS
Subject of a subscription DLQ's notifications republished to a topic.

Messages are built with boto3 on LocalStack: moto server drops AWSTraceHeader from SendMessageBatch entries
(it keeps it on SendMessage only), LocalStack keeps it on both and returns it for AttributeNames All.
"""

import base64
import json
import os
import subprocess
import sys
import time

import pytest

from tests.fidelity import fidelity
from tests.helpers import boto3_client, depth, drain

COUNT = 12  # more than one batch of 10
ATTRIBUTES = {
    "s": {"DataType": "String", "StringValue": "text ünïcode"},
    "n": {"DataType": "Number", "StringValue": "301.50"},
    "b": {"DataType": "Binary", "BinaryValue": b"\x00\xffbinary"},
    "nc": {"DataType": "Number.float", "StringValue": "1.5e3"},
    "sc": {"DataType": "String.custom", "StringValue": "custom"},
    "bc": {"DataType": "Binary.gz", "BinaryValue": b"\x1f\x8b"},
    "tags": {"DataType": "String.Array", "StringValue": '["a", 1, true, null]'},
    "loose": {"DataType": "String.Array", "StringValue": "not a JSON list: SQS takes it"},
}
ATTRIBUTE_CELL = "message attributes (String, Number, Binary, custom types)"


def trace_header(n):
    """Every other message carries one; the others must arrive without."""
    return f"Root=1-5759e988-{n:024x};Parent=53995c3f42cd8ad8;Sampled=1" if n % 2 == 0 else None


def send_fields(sqs, url, count=COUNT):
    """Send `count` messages with boto3; returns what was sent, by sequence number."""
    sent = {}
    for start in range(0, count, 10):
        entries = []
        for n in range(start, min(start + 10, count)):
            entry = {
                "Id": str(n),
                "MessageBody": json.dumps({"n": n}),
                "MessageAttributes": {**ATTRIBUTES, "seq": {"DataType": "Number", "StringValue": str(n)}},
            }
            if trace_header(n):
                entry["MessageSystemAttributes"] = {
                    "AWSTraceHeader": {"DataType": "String", "StringValue": trace_header(n)}
                }
            entries.append(entry)
            sent[n] = fields_of(entry["MessageBody"], entry["MessageAttributes"], trace_header(n))
        assert not sqs.send_message_batch(QueueUrl=url, Entries=entries).get("Failed")
    return sent


def fields_of(body, attributes, trace):
    return {"body": body, "attributes": attributes, "trace": trace}


def arrived(messages):
    """What boto3 received, in the shape of send_fields, by sequence number."""
    return {
        int(m["MessageAttributes"]["seq"]["StringValue"]): fields_of(
            m["Body"], m["MessageAttributes"], m.get("Attributes", {}).get("AWSTraceHeader")
        )
        for m in messages
    }


def from_envelopes(lines):
    """What msgctl printed (NDJSON envelopes), in the shape of send_fields, by sequence number."""
    result = {}
    for line in lines.splitlines():
        envelope = json.loads(line)
        attributes = {
            name: {"DataType": a["type"], "BinaryValue": base64.b64decode(a["value"])}
            if a["type"].startswith("Binary")
            else {"DataType": a["type"], "StringValue": a["value"]}
            for name, a in envelope["message_attributes"].items()
        }
        trace = envelope["attributes"].get("aws_trace_header")
        result[int(attributes["seq"]["StringValue"])] = fields_of(envelope["body"], attributes, trace)
    return result


def dead_letters(sqs, name):
    """A queue and its DLQ holding COUNT messages sent to it with boto3; returns (url, dlq url, sent)."""
    dlq = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5})
    url = sqs.create_queue(QueueName=name, Attributes={"RedrivePolicy": redrive})["QueueUrl"]
    return url, dlq, send_fields(sqs, dlq)


def run_json(invoke, *args):
    result = invoke("-o", "json", *args)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


@fidelity("SQS", "AWSTraceHeader", "tail")
@fidelity("SQS", "String.Array attribute", "tail")
@fidelity("SQS", "body", "tail")
@fidelity("SQS", ATTRIBUTE_CELL, "tail")
def test_tail_prints_the_trace_header_and_string_arrays_as_sqs_holds_them(invoke, localstack, unique):
    url = localstack.create_queue(QueueName=unique)["QueueUrl"]
    sent = send_fields(localstack, url)
    result = invoke("tail", f"sqs:{unique}", "-o", "ndjson")
    assert result.exit_code == 0, result.stderr
    assert from_envelopes(result.stdout) == sent
    assert depth(localstack, url) == COUNT


@fidelity("SQS", "AWSTraceHeader", "dlq export")
@fidelity("SQS", "String.Array attribute", "dlq export")
@fidelity("SQS", "body", "dlq export")
@fidelity("SQS", ATTRIBUTE_CELL, "dlq export")
@fidelity("SQS", "AWSTraceHeader", "replay")
@fidelity("SQS", "String.Array attribute", "replay")
@fidelity("SQS", "body", "replay")
@fidelity("SQS", ATTRIBUTE_CELL, "replay")
def test_export_then_replay_of_the_file_delivers_every_field(invoke, localstack, unique, tmp_path):
    _url, dlq, sent = dead_letters(localstack, unique)
    target = localstack.create_queue(QueueName=f"{unique}-replayed")["QueueUrl"]
    exported = invoke("dlq", "export", f"sqs:{unique}-dlq")
    assert exported.exit_code == 0, exported.stderr
    assert from_envelopes(exported.stdout) == sent
    assert depth(localstack, dlq) == COUNT, "export consumes nothing"
    (tmp_path / "dlq.ndjson").write_text(exported.stdout)
    report = run_json(
        invoke,
        "replay",
        str(tmp_path / "dlq.ndjson"),
        "--to",
        f"sqs:{unique}-replayed",
        "--ledger",
        str(tmp_path / "ledger"),
    )
    assert report["replayed"] == COUNT
    assert arrived(drain(localstack, target, COUNT)) == sent


def test_filter_test_reads_an_export_holding_string_arrays(invoke, localstack, unique, tmp_path):
    """String.Array text in msgctl's own export: the filter engine matches its elements (a JSON list) and
    takes a text that is not one as a plain value, as the envelope reader does."""
    _url, _dlq, sent = dead_letters(localstack, unique)
    exported = invoke("dlq", "export", f"sqs:{unique}-dlq")
    assert exported.exit_code == 0, exported.stderr
    (tmp_path / "dlq.ndjson").write_text(exported.stdout)
    for policy in ('{"tags": ["a"]}', '{"loose": [{"prefix": "not a JSON"}]}'):
        counted = invoke("filter", "test", policy, "--input", str(tmp_path / "dlq.ndjson"), "--count")
        assert (counted.exit_code, counted.stdout.strip()) == (0, str(len(sent))), counted.stderr
    none = invoke("filter", "test", '{"tags": ["b"]}', "--input", str(tmp_path / "dlq.ndjson"), "--count")
    assert (none.exit_code, none.stdout.strip()) == (1, "0"), none.stderr


@fidelity("SQS", "AWSTraceHeader", "dlq redrive")
@fidelity("SQS", "String.Array attribute", "dlq redrive")
def test_client_redrive_delivers_every_field_and_empties_the_dlq(invoke, localstack, unique, tmp_path):
    url, dlq, sent = dead_letters(localstack, unique)
    report = run_json(
        invoke,
        "dlq",
        "redrive",
        f"sqs:{unique}-dlq",
        "--engine",
        "client",
        "--yes",
        "--journal",
        str(tmp_path / "journal.sqlite"),
    )
    assert (report["moved"], report["failed"]) == (COUNT, [])
    assert arrived(drain(localstack, url, COUNT)) == sent
    assert depth(localstack, dlq) == 0


@fidelity("SQS", "AWSTraceHeader", "dlq redrive --copy")
@fidelity("SQS", "String.Array attribute", "dlq redrive --copy")
@fidelity("SQS", "body", "dlq redrive --copy")
@fidelity("SQS", ATTRIBUTE_CELL, "dlq redrive --copy")
def test_a_copy_delivers_every_field_and_the_dlq_keeps_its_messages(invoke, localstack, unique, tmp_path):
    url, dlq, sent = dead_letters(localstack, unique)
    report = run_json(
        invoke,
        "dlq",
        "redrive",
        f"sqs:{unique}-dlq",
        "--copy",
        "--yes",
        "--journal",
        str(tmp_path / "journal.sqlite"),
    )
    assert (report["moved"], report["failed"]) == (COUNT, [])
    assert arrived(drain(localstack, url, COUNT)) == sent
    assert arrived(drain(localstack, dlq, COUNT)) == sent, "the DLQ keeps its messages, unchanged"


PUBLISHED_ATTRIBUTES = {
    "s": {"DataType": "String", "StringValue": "text ünïcode"},
    "n": {"DataType": "Number", "StringValue": "301.50"},
    "b": {"DataType": "Binary", "BinaryValue": b"\x00\xffbinary"},
    "tags": {"DataType": "String.Array", "StringValue": '["a", 1, true, null]'},
}


def subscribe_non_raw(sns, sqs, topic_arn, name):
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    return url


def as_notified(attributes):
    """A published attribute as an SNS notification carries it."""
    return {
        name: {"Type": a["DataType"], "Value": base64.b64encode(a["BinaryValue"]).decode()}
        if "BinaryValue" in a
        else {"Type": a["DataType"], "Value": a["StringValue"]}
        for name, a in attributes.items()
    }


def notifications(messages):
    """Subject, message and attributes of each notification, by message."""
    bodies = [json.loads(m["Body"]) for m in messages]
    return {b["Message"]: (b.get("Subject"), b.get("MessageAttributes", {})) for b in bodies}


def wait_visible(sqs, url, count):
    deadline = time.monotonic() + 30
    while depth(sqs, url) < count:
        assert time.monotonic() < deadline, f"{url} did not reach {count} messages"
        time.sleep(0.2)


@pytest.mark.slow
@fidelity("SNS", "Subject", "dlq redrive")
@fidelity("SNS", "body", "dlq redrive")
@fidelity("SNS", "message attributes (String, Number, Binary, String.Array)", "dlq redrive")
def test_a_subscription_dlq_republished_to_its_topic_keeps_the_subject(
    invoke, localstack, localstack_endpoint, unique, tmp_path
):
    """The DLQ holds what a non-raw subscription delivered (SNS notifications, published with boto3 to a
    first topic); redriven to a second topic, a non-raw reader of it sees the same subject, message and
    attributes."""
    sns, sqs = boto3_client("sns", localstack_endpoint), localstack
    origin = sns.create_topic(Name=f"{unique}-origin")["TopicArn"]
    topic = sns.create_topic(Name=unique)["TopicArn"]
    dlq = subscribe_non_raw(sns, sqs, origin, f"{unique}-dlq")
    reader = subscribe_non_raw(sns, sqs, topic, f"{unique}-reader")
    published = {}
    for n in range(COUNT):
        subject = f"Order {n} shipped" if n % 3 else None
        kwargs = {"Subject": subject} if subject else {}
        sns.publish(TopicArn=origin, Message=f"m{n}", MessageAttributes=PUBLISHED_ATTRIBUTES, **kwargs)
        published[f"m{n}"] = (subject, as_notified(PUBLISHED_ATTRIBUTES))
    wait_visible(sqs, dlq, COUNT)
    report = run_json(
        invoke,
        "dlq",
        "redrive",
        f"sqs:{unique}-dlq",
        "--to",
        f"sns:{unique}",
        "--yes",
        "--journal",
        str(tmp_path / "journal.sqlite"),
    )
    assert (report["moved"], report["failed"]) == (COUNT, [])
    assert notifications(drain(sqs, reader, COUNT)) == published
    assert depth(sqs, dlq) == 0


@fidelity("SNS", "String.Array attribute whose text is not a JSON array", "dlq redrive", "refused, exit 3")
def test_a_string_array_sns_would_refuse_stays_in_the_dlq(
    invoke, localstack, localstack_endpoint, unique, tmp_path
):
    """SQS holds any text as a String.Array; SNS takes only a JSON array of scalars (the emulators do not
    check): such a message is named as failed and stays in the DLQ, the others go to the topic."""
    sns, sqs = boto3_client("sns", localstack_endpoint), localstack
    topic = sns.create_topic(Name=unique)["TopicArn"]
    reader = subscribe_non_raw(sns, sqs, topic, f"{unique}-reader")
    dlq = sqs.create_queue(QueueName=f"{unique}-dlq")["QueueUrl"]
    good = {"tags": {"DataType": "String.Array", "StringValue": '["a", 1]'}}
    for body, attributes in [("good", good), ("loose", {"tags": ATTRIBUTES["loose"]})]:
        sqs.send_message(QueueUrl=dlq, MessageBody=body, MessageAttributes=attributes)
    result = invoke(
        "-o",
        "json",
        "dlq",
        "redrive",
        f"sqs:{unique}-dlq",
        "--to",
        f"sns:{unique}",
        "--yes",
        "--journal",
        str(tmp_path / "journal.sqlite"),
    )
    assert result.exit_code == 3, result.stderr
    assert "String.Array" in result.stdout + result.stderr
    assert notifications(drain(sqs, reader, 1)) == {"good": (None, as_notified(good))}
    [left] = drain(sqs, dlq, 1)
    assert (left["Body"], left["MessageAttributes"]) == ("loose", {"tags": ATTRIBUTES["loose"]})


@fidelity("SNS", "Subject", "tail")
@fidelity("SNS", "body", "tail")
@fidelity("SNS", "message attributes (String, Number, Binary, String.Array)", "tail")
def test_tail_of_a_topic_shows_the_subject(localstack_endpoint, unique):
    sns, sqs = boto3_client("sns", localstack_endpoint), boto3_client("sqs", localstack_endpoint)
    topic = sns.create_topic(Name=unique)["TopicArn"]
    process = subprocess.Popen(
        [sys.executable, "-m", "msgctl", "tail", f"sns:{unique}", "-n", "3", "-o", "ndjson"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "AWS_ENDPOINT_URL": localstack_endpoint},
    )
    deadline = time.monotonic() + 30
    while not sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]:
        assert time.monotonic() < deadline and process.poll() is None, process.stderr.read()
        time.sleep(0.1)
    published = {}
    for n in range(3):
        subject = f"Order {n} shipped" if n else None
        kwargs = {"Subject": subject} if subject else {}
        sns.publish(TopicArn=topic, Message=f"m{n}", MessageAttributes=PUBLISHED_ATTRIBUTES, **kwargs)
        published[f"m{n}"] = (subject, as_enveloped(PUBLISHED_ATTRIBUTES))
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    envelopes = [json.loads(line) for line in out.splitlines()]
    shown = {e["body"]: (e["attributes"].get("subject"), e["message_attributes"]) for e in envelopes}
    assert shown == published
    assert sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == []
    assert not sqs.list_queues(QueueNamePrefix=f"msgctl-tail-{unique}").get("QueueUrls")


def as_enveloped(attributes):
    """A published attribute as msgctl's envelope shows it (Binary as base64)."""
    return {
        name: {"type": a["DataType"], "value": base64.b64encode(a["BinaryValue"]).decode()}
        if "BinaryValue" in a
        else {"type": a["DataType"], "value": a["StringValue"]}
        for name, a in attributes.items()
    }


def test_the_readable_block_shows_the_subject():
    import io

    from msgctl.envelope import Envelope
    from msgctl.render import Renderer
    from msgctl.render.messages import MessageWriter

    stdout = io.StringIO()
    envelope = Envelope("sns:t", "m1", b"hello", attributes={"sent_at": "now", "subject": "Order 1 shipped"})
    MessageWriter(Renderer(color=False, stdout=stdout), "pretty").write(envelope)
    assert stdout.getvalue().splitlines()[0] == "now  sns:t  id m1  subject Order 1 shipped"
