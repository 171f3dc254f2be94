"""What the target does with what replay and redrive send: every captured message kept (identical bodies
too), SNS batches cut by size, and sends a FIFO target dropped as duplicates named, not counted as sent."""

import json

import pytest

from msgctl.errors import ExitCode
from tests.fidelity import fidelity
from tests.helpers import boto3_client, drain

ATTRIBUTES = {
    "s": {"DataType": "String", "StringValue": "text ünïcode"},
    "n": {"DataType": "Number", "StringValue": "301.50"},
    "b": {"DataType": "Binary", "BinaryValue": b"\x00\xffbinary"},
}
CUSTOM_TYPES = {
    "sc": {"DataType": "String.custom", "StringValue": "custom"},
    "nc": {"DataType": "Number.float", "StringValue": "1.5e3"},
    "bc": {"DataType": "Binary.gz", "BinaryValue": b"\x1f\x8b"},
}


def _json(result):
    return json.loads(result.stdout) if result.stdout.strip().startswith(("{", "[")) else None


def _replay(invoke, source, to, ledger, *args):
    result = invoke("-o", "json", "replay", source, "--to", to, "--ledger", str(ledger), *args)
    return result, _json(result)


@pytest.mark.slow
@fidelity("SQS", "each captured message (identical bodies)", "replay")
@fidelity("SQS", "body", "replay")
@fidelity("SQS", "message attributes (String, Number, Binary, custom types)", "replay")
def test_three_identical_dead_letters_export_and_replay_as_three_messages(invoke, aws, sqs, unique, tmp_path):
    dlq = sqs.create_queue(QueueName=f"{unique}-dlq")["QueueUrl"]
    target = sqs.create_queue(QueueName=f"{unique}-target")["QueueUrl"]
    sent = [
        sqs.send_message(
            QueueUrl=dlq, MessageBody="same body", MessageAttributes={**ATTRIBUTES, **CUSTOM_TYPES}
        )["MessageId"]
        for _ in range(3)
    ]
    exported = invoke("dlq", "export", f"sqs:{unique}-dlq")
    assert exported.exit_code == 0, exported.stderr
    envelopes = [json.loads(line) for line in exported.stdout.splitlines()]
    assert sorted(e["id"] for e in envelopes) == sorted(sent)
    (tmp_path / "incident.ndjson").write_text(exported.stdout)
    source, ledger = str(tmp_path / "incident.ndjson"), tmp_path / "ledger.sqlite"

    result, report = _replay(invoke, source, f"sqs:{unique}-target", ledger)

    assert result.exit_code == 0, result.stderr
    assert (report["read"], report["replayed"], report["repeated_in_input"]) == (3, 3, 0)
    arrived = drain(sqs, target, 3)
    assert len(arrived) == 3
    for message in arrived:
        assert message["Body"] == "same body"
        assert message["MessageAttributes"] == {**ATTRIBUTES, **CUSTOM_TYPES}
    again, report = _replay(invoke, source, f"sqs:{unique}-target", ledger)
    assert again.exit_code == 0 and (report["replayed"], report["already_replayed"]) == (0, 3)
    assert drain(sqs, target, 0, timeout=2) == [], "a second replay sends nothing"


def _subscribed_queue(sqs, sns, name, fifo=False):
    """A topic and a queue subscribed to it with raw delivery; returns the queue's url."""
    suffix, attributes = (".fifo", {"FifoQueue": "true"}) if fifo else ("", {})
    topic_attributes = {"FifoTopic": "true"} if fifo else {}
    topic = sns.create_topic(Name=f"{name}-topic{suffix}", Attributes=topic_attributes)["TopicArn"]
    url = sqs.create_queue(QueueName=f"{name}-sub{suffix}", Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    return url


def _large_and_small(count_small=9):
    """One ~200 KB message and small ones of ~8 KB: 10 of them are over SNS's 256 KB per PublishBatch."""
    bodies = ["L" * 200_000] + [f"{n:02d}" + "s" * 8_000 for n in range(count_small)]
    return [
        (body, {**ATTRIBUTES, "seq": {"DataType": "Number", "StringValue": str(n)}})
        for n, body in enumerate(bodies)
    ]


def _arrived_each_once_as_sent(sqs, url, sent):
    arrived = drain(sqs, url, len(sent))
    by_seq = {}
    for message in arrived:
        seq = int(message["MessageAttributes"]["seq"]["StringValue"])
        assert seq not in by_seq, f"message {seq} arrived twice"
        by_seq[seq] = message
    assert sorted(by_seq) == list(range(len(sent)))
    for seq, (body, attributes) in enumerate(sent):
        assert by_seq[seq]["Body"] == body, seq
        assert by_seq[seq]["MessageAttributes"] == attributes, seq


@fidelity("SNS", "body", "replay")
@fidelity("SNS", "message attributes (String, Number, Binary)", "replay")
@fidelity("SNS", "each message of a batch over 256 KB", "replay")
def test_a_200_kb_message_and_9_small_ones_replay_into_sns_each_once(
    invoke, localstack, localstack_endpoint, unique, tmp_path
):
    sqs, sns = localstack, boto3_client("sns", localstack_endpoint)
    subscribed = _subscribed_queue(sqs, sns, unique)
    source = sqs.create_queue(QueueName=f"{unique}-src")["QueueUrl"]
    sent = _large_and_small()
    for body, attributes in sent:
        sqs.send_message(QueueUrl=source, MessageBody=body, MessageAttributes=attributes)
    captured = invoke("tail", f"sqs:{unique}-src", "-o", "ndjson")
    assert captured.exit_code == 0 and len(captured.stdout.splitlines()) == 10, captured.stderr
    (tmp_path / "captured.ndjson").write_text(captured.stdout)

    result, report = _replay(
        invoke, str(tmp_path / "captured.ndjson"), f"sns:{unique}-topic", tmp_path / "ledger.sqlite"
    )

    assert result.exit_code == 0, result.stderr
    assert (report["replayed"], report["failed"], report["possible_duplicates"]) == (10, [], [])
    _arrived_each_once_as_sent(sqs, subscribed, sent)


@fidelity("SNS", "body", "dlq redrive")
@fidelity("SNS", "message attributes (String, Number, Binary)", "dlq redrive")
@fidelity("SNS", "each message of a batch over 256 KB", "dlq redrive")
def test_a_200_kb_dead_letter_and_9_small_ones_redrive_into_sns_each_once(
    invoke, localstack, localstack_endpoint, unique, tmp_path
):
    sqs, sns = localstack, boto3_client("sns", localstack_endpoint)
    subscribed = _subscribed_queue(sqs, sns, unique)
    dlq = sqs.create_queue(QueueName=f"{unique}-dlq")["QueueUrl"]
    sent = _large_and_small()
    for body, attributes in sent:
        sqs.send_message(QueueUrl=dlq, MessageBody=body, MessageAttributes=attributes)

    result = invoke(
        "-o", "json", "dlq", "redrive", f"sqs:{unique}-dlq", "--to", f"sns:{unique}-topic",
        "--engine", "client", "--yes", "--journal", str(tmp_path / "journal.sqlite"),
    )  # fmt: skip

    assert result.exit_code == 0, result.stderr
    report = _json(result)
    assert (report["moved"], report["failed"], report["possible_duplicates"]) == (10, [], [])
    _arrived_each_once_as_sent(sqs, subscribed, sent)
    assert drain(sqs, dlq, 0, timeout=2) == [], "the DLQ is empty"


def _fifo_dead_letters(sqs, name, count=3):
    """A FIFO DLQ holding ``count`` dead letters built with boto3 (one group); returns what was sent."""
    dlq = sqs.create_queue(QueueName=f"{name}-dlq.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    sent = [
        (f"body {n}", {**ATTRIBUTES, "seq": {"DataType": "Number", "StringValue": str(n)}})
        for n in range(count)
    ]
    for n, (body, attributes) in enumerate(sent):
        sqs.send_message(
            QueueUrl=dlq,
            MessageBody=body,
            MessageAttributes=attributes,
            MessageGroupId="g",
            MessageDeduplicationId=f"d{n}",
        )
    return dlq, sent


def _exported(invoke, dlq_name, tmp_path):
    exported = invoke("dlq", "export", f"sqs:{dlq_name}")
    assert exported.exit_code == 0, exported.stderr
    path = tmp_path / "incident.ndjson"
    path.write_text(exported.stdout)
    return str(path)


@fidelity("SQS", "a resend within 5 minutes (FIFO)", "replay", "dropped by SQS: named, exit 3")
def test_a_forced_replay_into_a_fifo_queue_within_5_minutes_names_what_the_queue_dropped(
    invoke, localstack, unique, tmp_path
):
    sqs = localstack
    _dlq, sent = _fifo_dead_letters(sqs, unique)
    source = _exported(invoke, f"{unique}-dlq.fifo", tmp_path)
    target = sqs.create_queue(QueueName=f"{unique}.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    ledger = tmp_path / "ledger.sqlite"
    first, report = _replay(invoke, source, f"sqs:{unique}.fifo", ledger)
    assert first.exit_code == 0 and report["replayed"] == 3, first.stderr

    again, report = _replay(invoke, source, f"sqs:{unique}.fifo", ledger, "--force")

    assert again.exit_code == ExitCode.PARTIAL, again.stderr
    assert report["replayed"] == 0 and report["failed"] == [] and report["possible_duplicates"] == []
    assert [m["line"] for m in report["deduplicated_by_target"]] == [1, 2, 3]
    assert "3 of these deduplication ids were sent to" in again.stderr
    assert "3 dropped by the target" in again.stderr
    arrived = drain(sqs, target, 3)
    assert [(m["Body"], m["MessageAttributes"]) for m in arrived] == sent, "each once, as sent"
    rerun, report = _replay(invoke, source, f"sqs:{unique}.fifo", ledger)
    assert rerun.exit_code == 0 and report["already_replayed"] == 3, "the ledger still holds them as sent"


def test_where_the_target_cannot_tell_a_dropped_resend_replay_warns_before_sending(
    invoke, aws, sqs, unique, tmp_path
):
    _dlq, sent = _fifo_dead_letters(sqs, unique)  # moto drops the resend but answers with a new id
    source = _exported(invoke, f"{unique}-dlq.fifo", tmp_path)
    target = sqs.create_queue(QueueName=f"{unique}.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    ledger = tmp_path / "ledger.sqlite"
    first, _ = _replay(invoke, source, f"sqs:{unique}.fifo", ledger)
    assert first.exit_code == 0 and "less than 5 minutes ago" not in first.stderr, first.stderr

    dry, _ = _replay(invoke, source, f"sqs:{unique}.fifo", ledger, "--force", "--dry-run")
    again, _ = _replay(invoke, source, f"sqs:{unique}.fifo", ledger, "--force")

    for result in (dry, again):
        assert "3 of these deduplication ids were sent to" in result.stderr
        assert "accepts such a resend and drops it" in result.stderr
    arrived = drain(sqs, target, 3)
    assert [(m["Body"], m["MessageAttributes"]) for m in arrived] == sent, "the queue dropped the resend"


def _copy(invoke, dlq_name, to, tmp_path):
    result = invoke(
        "-o", "json", "dlq", "redrive", f"sqs:{dlq_name}", "--to", to, "--copy", "--engine", "client",
        "--yes", "--journal", str(tmp_path / "journal.sqlite"),
    )  # fmt: skip
    return result, _json(result)


@fidelity("SQS", "a resend within 5 minutes (FIFO)", "dlq redrive --copy", "not resent: named, exit 3")
def test_a_fifo_copy_repeated_within_5_minutes_names_what_the_queue_dropped(
    invoke, localstack, unique, tmp_path
):
    sqs = localstack
    dlq, sent = _fifo_dead_letters(sqs, unique)
    target = sqs.create_queue(QueueName=f"{unique}.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    first, report = _copy(invoke, f"{unique}-dlq.fifo", f"sqs:{unique}.fifo", tmp_path)
    assert first.exit_code == 0 and report["moved"] == 3, first.stderr

    again, report = _copy(invoke, f"{unique}-dlq.fifo", f"sqs:{unique}.fifo", tmp_path)

    assert again.exit_code == ExitCode.PARTIAL, again.stderr
    assert (report["moved"], report["failed"], report["possible_duplicates"]) == (0, [], [])
    dlq_ids = {m["MessageId"] for m in drain(sqs, dlq, 3)}
    assert set(report["sent_recently"]) == dlq_ids and len(dlq_ids) == 3, "named; the DLQ keeps them"
    assert "3 messages went from" in again.stderr, "warned before sending"
    assert "not sent again, they stay in the DLQ (sent_recently); they can be moved after" in again.stderr
    arrived = drain(sqs, target, 3)
    assert [(m["Body"], m["MessageAttributes"]) for m in arrived] == sent, "each once, as sent"


@pytest.mark.slow
def test_where_the_target_cannot_tell_a_dropped_copy_redrive_warns_before_sending(
    invoke, aws, sqs, unique, tmp_path
):
    dlq, sent = _fifo_dead_letters(sqs, unique)  # moto drops the second copy but answers with a new id
    target = sqs.create_queue(QueueName=f"{unique}.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    first, _ = _copy(invoke, f"{unique}-dlq.fifo", f"sqs:{unique}.fifo", tmp_path)
    assert first.exit_code == 0 and "less than 5 minutes ago" not in first.stderr, first.stderr

    again, _ = _copy(invoke, f"{unique}-dlq.fifo", f"sqs:{unique}.fifo", tmp_path)

    assert "3 messages went from" in again.stderr
    assert "the target accepts and drops any of them sent again" in again.stderr
    arrived = drain(sqs, target, 3)
    assert [(m["Body"], m["MessageAttributes"]) for m in arrived] == sent, "the queue dropped the copies"
    assert len(drain(sqs, dlq, 3)) == 3, "the DLQ keeps its messages"


@fidelity("SQS", "a resend within 5 minutes (FIFO)", "dlq redrive", "not resent: named, exit 3")
def test_a_move_within_5_minutes_of_a_fifo_copy_leaves_what_the_queue_dropped_in_the_dlq(
    invoke, localstack, unique, tmp_path
):
    sqs = localstack
    dlq, sent = _fifo_dead_letters(sqs, unique)
    target = sqs.create_queue(QueueName=f"{unique}.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    copied, _ = _copy(invoke, f"{unique}-dlq.fifo", f"sqs:{unique}.fifo", tmp_path)
    assert copied.exit_code == 0, copied.stderr

    moved = invoke(
        "-o", "json", "dlq", "redrive", f"sqs:{unique}-dlq.fifo", "--to", f"sqs:{unique}.fifo",
        "--engine", "client", "--yes", "--journal", str(tmp_path / "journal.sqlite"),
    )  # fmt: skip

    assert moved.exit_code == ExitCode.PARTIAL, moved.stderr
    report = _json(moved)
    assert (report["moved"], report["failed"], len(report["sent_recently"])) == (0, [], 3)
    assert "3 messages went from" in moved.stderr, "warned before sending"
    kept = drain(sqs, dlq, 3)
    assert [(m["Body"], m["MessageAttributes"]) for m in kept] == sent, "not deleted: held back"
    assert {m["MessageId"] for m in kept} == set(report["sent_recently"])
    arrived = drain(sqs, target, 3)
    assert [(m["Body"], m["MessageAttributes"]) for m in arrived] == sent, "the copies, each once"


def test_a_move_within_5_minutes_of_a_fifo_copy_never_deletes_what_the_queue_dropped_unnamed(
    invoke, aws, sqs, unique, tmp_path
):
    dlq, sent = _fifo_dead_letters(sqs, unique)  # moto drops the resend but answers with a new id
    target = sqs.create_queue(QueueName=f"{unique}.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    copied, _ = _copy(invoke, f"{unique}-dlq.fifo", f"sqs:{unique}.fifo", tmp_path)
    assert copied.exit_code == 0, copied.stderr

    moved = invoke(
        "-o", "json", "dlq", "redrive", f"sqs:{unique}-dlq.fifo", "--to", f"sqs:{unique}.fifo",
        "--engine", "client", "--yes", "--journal", str(tmp_path / "journal.sqlite"),
    )  # fmt: skip

    assert moved.exit_code == ExitCode.PARTIAL, moved.stderr
    report = _json(moved)
    assert (report["moved"], report["failed"], len(report["sent_recently"])) == (0, [], 3)
    assert "they can be moved after" in moved.stderr
    kept = drain(sqs, dlq, 3)
    assert [(m["Body"], m["MessageAttributes"]) for m in kept] == sent, "the DLQ keeps them"
    arrived = drain(sqs, target, 3)
    assert [(m["Body"], m["MessageAttributes"]) for m in arrived] == sent, "the copies, each once"


def test_a_forced_replay_into_an_sns_fifo_topic_warns_before_sending_that_it_is_dropped(
    invoke, localstack, localstack_endpoint, unique, tmp_path
):
    sqs, sns = localstack, boto3_client("sns", localstack_endpoint)
    subscribed = _subscribed_queue(sqs, sns, unique, fifo=True)  # SNS answers a dropped resend with a new id
    _dlq, sent = _fifo_dead_letters(sqs, unique)
    source = _exported(invoke, f"{unique}-dlq.fifo", tmp_path)
    ledger = tmp_path / "ledger.sqlite"
    first, _ = _replay(invoke, source, f"sns:{unique}-topic.fifo", ledger)
    assert first.exit_code == 0 and "less than 5 minutes ago" not in first.stderr, first.stderr

    again, _ = _replay(invoke, source, f"sns:{unique}-topic.fifo", ledger, "--force")

    assert "3 of these deduplication ids were sent to" in again.stderr
    assert "accepts such a resend and drops it" in again.stderr
    arrived = drain(sqs, subscribed, 3)
    assert [(m["Body"], m["MessageAttributes"]) for m in arrived] == sent, "each once, as sent"
