"""Large payloads in S3, as the Amazon SQS/SNS Extended Client libraries keep them: msgctl recognises their
pointer messages, reads the payloads, moves pointers untouched, and offloads bodies itself. The producers
and consumers are the real extended-client libraries, on LocalStack with S3."""

import json

import pytest

from msgctl.errors import ExitCode
from tests import extended
from tests.helpers import boto3_client, depth

MB = 1_000_000


def _body(n, size=MB):
    """A JSON body of about ``size`` bytes."""
    return json.dumps({"n": n, "kind": "big", "pad": "x" * size})


@pytest.fixture
def s3_world(localstack, localstack_endpoint, unique):
    """A bucket for payloads; returns (endpoint, bucket, an S3 client)."""
    s3 = boto3_client("s3", localstack_endpoint)
    bucket = unique.lower()
    s3.create_bucket(Bucket=bucket)
    return localstack_endpoint, bucket, s3


def _objects(s3, bucket):
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []))


def _envelopes(stdout):
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def test_tail_shows_pointers_and_resolves_payloads_of_both_formats(invoke, localstack, s3_world, unique):
    endpoint, bucket, s3 = s3_world
    url = localstack.create_queue(QueueName=unique)["QueueUrl"]
    kind = {"kind": {"DataType": "String", "StringValue": "order"}}
    extended.sqs_client(endpoint, bucket).send_message(
        QueueUrl=url, MessageBody=_body(1), MessageAttributes=kind
    )
    extended.sqs_client(endpoint, bucket, legacy=True).send_message(QueueUrl=url, MessageBody=_body(2))
    localstack.send_message(QueueUrl=url, MessageBody='{"n": 3}')
    keys = _objects(s3, bucket)
    assert len(keys) == 2

    shown = invoke("tail", f"sqs:{unique}", "-o", "ndjson")
    assert shown.exit_code == 0, shown.stderr
    by_n = {}
    for envelope in _envelopes(shown.stdout):
        body = envelope["body"]
        by_n[json.loads(body)["n"] if body.startswith("{") else body] = envelope
    assert by_n[3]["body"] == '{"n": 3}' and "payload" not in by_n[3]["attributes"]
    pointers = [e for e in by_n.values() if "payload" in e["attributes"]]
    assert len(pointers) == 2
    classes = sorted(json.loads(e["body"])[0] for e in pointers)
    assert classes == [
        "com.amazon.sqs.javamessaging.MessageS3Pointer",
        "software.amazon.payloadoffloading.PayloadS3Pointer",
    ]
    for envelope in pointers:
        _, where = json.loads(envelope["body"])
        payload = envelope["attributes"]["payload"]
        assert payload["s3"] == f"s3://{bucket}/{where['s3Key']}" and where["s3Key"] in keys
        assert payload["size"] == len(_body(1)) and "resolved" not in payload

    readable = invoke("tail", f"sqs:{unique}", "-o", "table").stdout
    for envelope in pointers:
        assert (
            f"payload in {envelope['attributes']['payload']['s3']}, {len(_body(1)):,} bytes: not read"
            in readable
        )

    resolved = invoke("tail", f"sqs:{unique}", "-o", "ndjson", "--payloads", "resolve")
    assert resolved.exit_code == 0, resolved.stderr
    by_n = {json.loads(e["body"])["n"]: e for e in _envelopes(resolved.stdout)}
    assert by_n[1]["body"] == _body(1) and by_n[2]["body"] == _body(2)
    assert by_n[1]["message_attributes"] == {"kind": {"type": "String", "value": "order"}}
    assert by_n[2]["message_attributes"] == {}  # the size attribute (legacy name) is gone with the pointer
    for n in (1, 2):
        assert by_n[n]["attributes"]["payload"]["resolved"] is True
    assert by_n[3]["body"] == '{"n": 3}'
    assert _objects(s3, bucket) == keys and depth(localstack, url) == 3


def test_a_missing_payload_is_one_error_line_and_exit_3(invoke, localstack, s3_world, unique):
    endpoint, bucket, s3 = s3_world
    url = localstack.create_queue(QueueName=unique)["QueueUrl"]
    client = extended.sqs_client(endpoint, bucket)
    for n in range(2):
        client.send_message(QueueUrl=url, MessageBody=_body(n))
    gone = _objects(s3, bucket)[0]
    s3.delete_object(Bucket=bucket, Key=gone)

    result = invoke("dlq", "export", f"sqs:{unique}", "--payloads", "resolve")
    assert result.exit_code == ExitCode.PARTIAL
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and f"s3://{bucket}/{gone}" in errors[0] and "NoSuchKey" in errors[0], (
        result.stderr
    )
    assert "Traceback" not in result.stderr
    envelopes = _envelopes(result.stdout)
    assert len(envelopes) == 2  # the message whose payload is gone is exported as its pointer
    failed = [e for e in envelopes if "error" in e["attributes"]["payload"]]
    assert len(failed) == 1 and failed[0]["body"].startswith('["software.amazon')
    assert next(e for e in envelopes if e not in failed)["attributes"]["payload"]["resolved"] is True


def _dead_letter_pair(sqs, name):
    dlq = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5})
    url = sqs.create_queue(QueueName=name, Attributes={"RedrivePolicy": policy})["QueueUrl"]
    return url, dlq


def test_redrive_and_copy_deliver_pointers_the_extended_client_reads_back(
    invoke, localstack, s3_world, unique, tmp_path
):
    endpoint, bucket, s3 = s3_world
    url, dlq = _dead_letter_pair(localstack, unique)
    copies = localstack.create_queue(QueueName=f"{unique}-copies")["QueueUrl"]
    client = extended.sqs_client(endpoint, bucket)
    for n in range(3):
        client.send_message(QueueUrl=dlq, MessageBody=_body(n))
    keys = _objects(s3, bucket)
    journal = ["--yes", "--engine", "client", "--journal", str(tmp_path / "journal.sqlite"), "-o", "json"]

    copied = invoke("dlq", "redrive", f"sqs:{unique}-dlq", "--to", f"sqs:{unique}-copies", "--copy", *journal)
    assert copied.exit_code == 0, copied.stderr
    moved = invoke("dlq", "redrive", f"sqs:{unique}-dlq", *journal)
    assert moved.exit_code == 0, moved.stderr
    assert json.loads(moved.stdout)["moved"] == 3

    for queue in (copies, url):
        read = extended.receive_all(extended.sqs_client(endpoint), queue, 3)
        assert sorted(m["Body"] for m in read) == sorted(_body(n) for n in range(3))
    assert depth(localstack, dlq) == 0
    assert _objects(s3, bucket) == keys  # a move never deletes or rewrites an object


def test_send_and_replay_offload_what_the_queue_cannot_take(invoke, localstack, s3_world, unique, tmp_path):
    endpoint, bucket, s3 = s3_world
    small = localstack.create_queue(QueueName=unique, Attributes={"MaximumMessageSize": "262144"})["QueueUrl"]
    body = _body(0, 600_000)
    sent = invoke("send", f"sqs:{unique}", "-", "--payload-bucket", bucket, "--attr", "kind=big", input=body)
    assert sent.exit_code == 0, sent.stderr
    assert len(_objects(s3, bucket)) == 1

    source = localstack.create_queue(QueueName=f"{unique}-source")["QueueUrl"]
    producer = extended.sqs_client(endpoint, bucket)
    for n in range(1, 3):
        producer.send_message(QueueUrl=source, MessageBody=_body(n))
    localstack.send_message(QueueUrl=source, MessageBody='{"n": 3}')
    export = tmp_path / "resolved.ndjson"
    exported = invoke("dlq", "export", f"sqs:{unique}-source", "--payloads", "resolve")
    assert exported.exit_code == 0, exported.stderr
    export.write_text(exported.stdout)

    refused = invoke("replay", str(export), "--to", f"sqs:{unique}", "--ledger", str(tmp_path / "l1.sqlite"))
    assert refused.exit_code == ExitCode.USAGE and "line " in refused.stderr
    assert "MaximumMessageSize" in refused.stderr and "--payload-bucket" in refused.stderr
    assert depth(localstack, small) == 1  # nothing was sent

    replayed = invoke(
        "replay", str(export), "--to", f"sqs:{unique}", "--payload-bucket", bucket, "-o", "json",
        "--ledger", str(tmp_path / "l2.sqlite"),
    )  # fmt: skip
    assert replayed.exit_code == 0, replayed.stderr
    report = json.loads(replayed.stdout)
    assert report["replayed"] == 3 and report["payloads_stored"] == 2

    read = extended.receive_all(extended.sqs_client(endpoint), small, 4)
    assert sorted(m["Body"] for m in read) == sorted([body, _body(1), _body(2), '{"n": 3}'])
    first = next(m for m in read if m["Body"] == body)
    assert first["MessageAttributes"]["kind"]["StringValue"] == "big"
    assert len(_objects(s3, bucket)) == 5  # 1 sent, 2 by the producer, 2 offloaded by replay


def test_an_sns_extended_publish_through_a_chain_is_recognised_in_the_queue(
    invoke, localstack, s3_world, unique
):
    endpoint, bucket, _ = s3_world
    queues = {True: f"{unique}-raw", False: f"{unique}-wrapped"}
    for raw, name in queues.items():
        made = invoke("chain", "create", f"sns:{unique}", f"sqs:{name}", "--raw" if raw else "--no-raw")
        assert made.exit_code == 0, made.stderr
    topic = boto3_client("sns", endpoint).create_topic(Name=unique)["TopicArn"]  # (exists: its ARN)
    body = _body(7, 300_000)
    extended.sns_client(endpoint, bucket).publish(
        TopicArn=topic, Message=body, MessageAttributes={"kind": {"DataType": "String", "StringValue": "big"}}
    )

    for raw, name in queues.items():
        for _ in range(50):
            pointer = _envelopes(invoke("tail", f"sqs:{name}", "-o", "ndjson").stdout)
            if pointer:
                break
        assert len(pointer) == 1 and pointer[0]["attributes"]["payload"]["size"] == len(body)
        resolved = invoke("tail", f"sqs:{name}", "-o", "ndjson", "--payloads", "resolve")
        assert resolved.exit_code == 0, resolved.stderr
        (envelope,) = _envelopes(resolved.stdout)
        if raw:
            assert envelope["body"] == body
            assert envelope["message_attributes"] == {"kind": {"type": "String", "value": "big"}}
        else:
            notification = json.loads(envelope["body"])
            assert notification["Message"] == body
            assert set(notification["MessageAttributes"]) == {"kind"}
        assert envelope["attributes"]["payload"]["resolved"] is True


def _pointer_dlq(localstack, s3_world, unique, bodies):
    """A DLQ (and its source queue) holding extended-client pointers to ``bodies``; returns the source's
    and the DLQ's URLs."""
    endpoint, bucket, _ = s3_world
    url, dlq = _dead_letter_pair(localstack, unique)
    producer = extended.sqs_client(endpoint, bucket, always=True)
    for body in bodies:
        producer.send_message(QueueUrl=dlq, MessageBody=body)
    return url, dlq


def test_body_filters_judge_pointers_by_their_payload_and_move_the_pointer(
    invoke, localstack, s3_world, unique, tmp_path
):
    endpoint, bucket, s3 = s3_world
    bodies = [json.dumps({"kind": kind, "n": n}) for n, kind in enumerate(["order", "refund", "order"])]
    url, _ = _pointer_dlq(localstack, s3_world, unique, bodies)
    exported = invoke("dlq", "export", f"sqs:{unique}-dlq")
    assert exported.exit_code == 0, exported.stderr
    export = tmp_path / "pointers.ndjson"
    export.write_text(exported.stdout)
    orders = '{"kind": ["order"]}'

    tested = invoke("filter", "test", orders, "--scope", "body", "--input", str(export))
    assert tested.exit_code == 0, tested.stderr
    kept = _envelopes(tested.stdout)  # the lines as they were: pointers
    assert len(kept) == 2 and all(e["body"].startswith('["software.amazon') for e in kept)
    as_pointers = invoke(
        "filter", "test", orders, "--scope", "body", "--input", str(export), "--payloads", "pointer"
    )
    assert as_pointers.exit_code == 1 and as_pointers.stdout == ""

    replayed = invoke(
        "replay", str(export), "--to", f"sqs:{unique}", "--filter", orders, "--filter-scope", "body",
        "--ledger", str(tmp_path / "ledger.sqlite"), "-o", "json",
    )  # fmt: skip
    assert replayed.exit_code == 0, replayed.stderr
    assert json.loads(replayed.stdout)["replayed"] == 2
    read = extended.receive_all(extended.sqs_client(endpoint), url, 2)
    assert sorted(m["Body"] for m in read) == [bodies[0], bodies[2]]

    refund = next(e for e in _envelopes(exported.stdout) if e["id"] not in {k["id"] for k in kept})
    s3.delete_object(Bucket=bucket, Key=json.loads(kept[0]["body"])[1]["s3Key"])
    moved = invoke(
        "dlq", "redrive", f"sqs:{unique}-dlq", "--filter", orders, "--filter-scope", "body", "--yes",
        "--engine", "client", "--journal", str(tmp_path / "journal.sqlite"), "-o", "json",
    )  # fmt: skip
    assert moved.exit_code == ExitCode.PARTIAL, moved.stderr
    report = json.loads(moved.stdout)
    assert report["moved"] == 1 and report["skipped"] == 1
    (failed,) = report["failed"]
    assert failed["id"] == kept[0]["id"] and "NoSuchKey" in failed["reason"], failed
    (arrived,) = extended.receive_all(extended.sqs_client(endpoint), url, 1)
    assert arrived["Body"] == bodies[2]
    left = {e["id"] for e in _envelopes(invoke("dlq", "export", f"sqs:{unique}-dlq").stdout)}
    assert left == {refund["id"], kept[0]["id"]}  # the refund (filtered out) and the one not judged


def test_a_transform_refuses_a_pointer_message_loudly(invoke, localstack, s3_world, unique, tmp_path):
    url, dlq = _pointer_dlq(localstack, s3_world, unique, ['{"n": 1}'])
    result = invoke(
        "dlq", "redrive", f"sqs:{unique}-dlq", "--transform-body", ".n += 1", "--yes", "--engine", "client",
        "--journal", str(tmp_path / "journal.sqlite"), "-o", "json",
    )  # fmt: skip
    assert result.exit_code == ExitCode.PARTIAL
    (failed,) = json.loads(result.stdout)["failed"]
    assert "in S3" in failed["reason"] and "extended-client" in failed["reason"], failed
    assert depth(localstack, dlq) == 1 and depth(localstack, url) == 0


def test_purge_deletes_the_payloads_only_when_asked(invoke, localstack, s3_world, unique):
    endpoint, bucket, s3 = s3_world
    _pointer_dlq(localstack, s3_world, unique, [f'{{"n": {n}}}' for n in range(3)])
    localstack.send_message(
        QueueUrl=localstack.get_queue_url(QueueName=f"{unique}-dlq")["QueueUrl"], MessageBody="plain"
    )
    other = localstack.create_queue(QueueName=f"{unique}-other")["QueueUrl"]
    extended.sqs_client(endpoint, bucket, always=True).send_message(QueueUrl=other, MessageBody="kept")
    kept = set(_objects(s3, bucket)) - {
        json.loads(e["body"])[1]["s3Key"]
        for e in _envelopes(invoke("dlq", "export", f"sqs:{unique}-dlq").stdout)
        if e["body"].startswith("[")
    }
    assert len(kept) == 1

    purged = invoke("dlq", "purge", f"sqs:{unique}-dlq", "--yes", "--payloads", "delete", "-o", "json")
    assert purged.exit_code == 0, purged.stderr
    document = json.loads(purged.stdout)
    assert document["messages"] == 4 and document["payloads_deleted"] == 3 and document["failures"] == []
    assert set(_objects(s3, bucket)) == kept  # only the purged messages' objects went
    assert depth(localstack, localstack.get_queue_url(QueueName=f"{unique}-dlq")["QueueUrl"]) == 0
