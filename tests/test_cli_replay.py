"""replay re-sends captured envelopes idempotently: FIFO queues on LocalStack, moto, ActiveMQ, SNS FIFO."""

import base64
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from msgctl.errors import ExitCode
from tests.helpers import boto3_client, consume_all, depth, drain

ATTRIBUTES = {
    "s": {"type": "String", "value": "text ünïcode"},
    "n": {"type": "Number", "value": "301.5"},
    "b": {"type": "Binary", "value": base64.b64encode(b"\x00\xffbin").decode()},
    "sc": {"type": "String.custom", "value": "custom"},
}


def envelopes(count, groups=3, attributes=ATTRIBUTES):
    return [
        {
            "channel": "sqs:captured.fifo",
            "id": f"orig-{n}",
            "body": json.dumps({"n": n, "order": {"id": f"o{n}"}}),
            "attributes": {"group_id": f"g{n % groups}"} if groups else {},
            "message_attributes": {**attributes, "seq": {"type": "Number", "value": str(n)}},
        }
        for n in range(count)
    ]


def write(path, items):
    path.write_text("".join(json.dumps(item) + "\n" for item in items))
    return str(path)


def fifo_queue(sqs, name):
    return sqs.create_queue(QueueName=f"{name}.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]


def replay(invoke, *args, input=None):
    result = invoke("-o", "json", "replay", *args, input=input)
    return result, (json.loads(result.stdout) if result.stdout.strip().startswith("{") else None)


@pytest.mark.slow
def test_300_envelopes_in_3_groups_arrive_once_in_order_with_attributes_then_a_rerun_sends_nothing(
    invoke, localstack, unique, tmp_path
):
    url = fifo_queue(localstack, unique)
    source = write(tmp_path / "in.ndjson", envelopes(300))
    ledger = str(tmp_path / "ledger.sqlite")
    result, report = replay(
        invoke, source, "--to", f"sqs:{unique}.fifo", "--ledger", ledger, "--concurrency", "3"
    )
    assert result.exit_code == 0, result.stderr
    assert (report["read"], report["replayed"], report["failed"]) == (300, 300, [])
    messages = drain(localstack, url, 300)
    seqs = [int(m["MessageAttributes"]["seq"]["StringValue"]) for m in messages]
    assert Counter(seqs) == Counter(range(300)), "each once"
    for group in range(3):
        in_group = [s for s in seqs if s % 3 == group]
        assert in_group == sorted(in_group), f"group g{group} in order"
    for message in messages:
        assert message["Attributes"]["MessageGroupId"] == f"g{int(json.loads(message['Body'])['n']) % 3}"
        attributes = message["MessageAttributes"]
        assert attributes["s"]["StringValue"] == "text ünïcode"
        assert attributes["n"] == {"DataType": "Number", "StringValue": "301.5"}
        assert attributes["b"]["BinaryValue"] == b"\x00\xffbin"
        assert attributes["sc"] == {"DataType": "String.custom", "StringValue": "custom"}
    again, report = replay(invoke, source, "--to", f"sqs:{unique}.fifo", "--ledger", ledger)
    assert again.exit_code == 0, again.stderr
    assert (report["replayed"], report["already_replayed"]) == (0, 300)
    assert "300 already replayed" in again.stderr
    assert depth(localstack, url) == 0


@pytest.mark.slow
def test_kill_9_in_the_middle_then_a_rerun_delivers_exactly_the_input(localstack_endpoint, unique, tmp_path):
    sqs = boto3_client("sqs", localstack_endpoint)
    url = fifo_queue(sqs, unique)
    source = write(tmp_path / "in.ndjson", envelopes(300))
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": localstack_endpoint,
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing-secret",
    }
    command = [sys.executable, "-m", "msgctl", "-o", "json", "replay", source, "--to", f"sqs:{unique}.fifo"]
    command += ["--ledger", str(tmp_path / "ledger.sqlite"), "--concurrency", "2"]
    process = subprocess.Popen(
        [*command, "--rate", "100"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 60
    while depth(sqs, url) < 80:  # kill it part-way, whatever step it is at
        assert time.monotonic() < deadline and process.poll() is None, process.stderr.read()
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    rerun = subprocess.run(command, env=env, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    report = json.loads(rerun.stdout)
    assert report["already_replayed"] >= 80 - 2 * 10, "what the ledger held as sent was skipped"
    assert report["possible_duplicates"] == [], "the FIFO queue drops a resend within 5 minutes"
    seqs = Counter(int(m["MessageAttributes"]["seq"]["StringValue"]) for m in drain(sqs, url, 300))
    assert seqs == Counter(range(300)), "exactly the input: every message once, no duplicates"


@pytest.mark.slow
def test_a_malformed_line_150_exits_2_names_it_and_sends_nothing(invoke, aws, sqs, unique, tmp_path):
    url = fifo_queue(sqs, unique)
    lines = [json.dumps(item) for item in envelopes(152)]  # 149 lines before the bad one, 2 after it
    lines[149] = '{"channel": "sqs:x", "body": 42}'
    source = tmp_path / "in.ndjson"
    source.write_text("\n".join(lines) + "\n")
    result = invoke(
        "replay", str(source), "--to", f"sqs:{unique}.fifo", "--ledger", str(tmp_path / "l.sqlite")
    )
    assert result.exit_code == ExitCode.USAGE
    assert "line 150" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr
    assert depth(sqs, url) == 0, "nothing was sent"
    skipped = invoke(
        "replay",
        str(source),
        "--to",
        f"sqs:{unique}.fifo",
        "--ledger",
        str(tmp_path / "l.sqlite"),
        "--skip-invalid",
    )
    assert skipped.exit_code == 0, skipped.stderr
    assert "line 150 skipped" in skipped.stderr
    assert depth(sqs, url) == 151, "every other line was sent"


def test_a_fifo_target_without_group_ids_is_refused_before_sending(invoke, aws, sqs, unique, tmp_path):
    url = fifo_queue(sqs, unique)
    source = write(tmp_path / "in.ndjson", envelopes(20, groups=0))
    result = invoke("replay", source, "--to", f"sqs:{unique}.fifo", "--ledger", str(tmp_path / "l.sqlite"))
    assert result.exit_code == ExitCode.USAGE and "line 1: no group id" in result.stderr
    assert depth(sqs, url) == 0
    templated, _report = replay(
        invoke, source, "--to", f"sqs:{unique}.fifo", "--ledger", str(tmp_path / "l.sqlite"),
        "--group-id", "template:order-{body.order.id}", "--dedup-id", "template:{id}",
    )  # fmt: skip
    assert templated.exit_code == 0, templated.stderr
    messages = drain(sqs, url, 20)
    assert sorted(m["Attributes"]["MessageGroupId"] for m in messages) == sorted(
        f"order-o{n}" for n in range(20)
    )
    assert {m["Attributes"]["MessageDeduplicationId"] for m in messages} == {f"orig-{n}" for n in range(20)}


@pytest.mark.slow
def test_what_tail_captured_replays_into_another_queue_identically(invoke, aws, sqs, unique, tmp_path):
    source_url = sqs.create_queue(QueueName=f"{unique}-src")["QueueUrl"]
    target_url = sqs.create_queue(QueueName=f"{unique}-dst")["QueueUrl"]
    for n in range(15):
        sqs.send_message(
            QueueUrl=source_url,
            MessageBody=f"body {n}",
            MessageAttributes={
                "seq": {"DataType": "Number", "StringValue": str(n)},
                "raw": {"DataType": "Binary", "BinaryValue": bytes([n, 255])},
            },
        )
    captured = invoke("tail", f"sqs:{unique}-src", "-o", "ndjson")
    assert captured.exit_code == 0, captured.stderr
    (tmp_path / "captured.ndjson").write_text(captured.stdout)
    result, report = replay(
        invoke,
        str(tmp_path / "captured.ndjson"),
        "--to",
        f"sqs:{unique}-dst",
        "--ledger",
        str(tmp_path / "l"),
    )
    assert result.exit_code == 0 and report["replayed"] == 15, result.stderr
    by_seq = {int(m["MessageAttributes"]["seq"]["StringValue"]): m for m in drain(sqs, target_url, 15)}
    assert sorted(by_seq) == list(range(15))
    for n, message in by_seq.items():
        assert message["Body"] == f"body {n}" and message["MessageAttributes"]["raw"]["BinaryValue"] == bytes(
            [n, 255]
        )
    from_channel, report = replay(
        invoke, f"sqs:{unique}-src", "--to", f"sqs:{unique}-dst", "--ledger", str(tmp_path / "l")
    )
    assert from_channel.exit_code == 0, from_channel.stderr
    assert report["already_replayed"] == 15, (
        "a channel source reads the same envelopes: nothing is sent twice"
    )
    assert depth(sqs, source_url) == 15, "reading the channel consumed nothing"


def test_a_ledger_of_another_target_is_refused(invoke, aws, sqs, unique, tmp_path):
    for name in ("a", "b"):
        sqs.create_queue(QueueName=f"{unique}-{name}")
    source = write(tmp_path / "in.ndjson", envelopes(3, groups=0))
    ledger = str(tmp_path / "ledger.sqlite")
    assert invoke("replay", source, "--to", f"sqs:{unique}-a", "--ledger", ledger).exit_code == 0
    other = invoke("replay", source, "--to", f"sqs:{unique}-b", "--ledger", ledger)
    assert other.exit_code == ExitCode.USAGE and "is the ledger of" in other.stderr


def test_a_dry_run_sums_up_what_it_would_send_and_ndjson_lists_every_message(
    invoke, aws, sqs, unique, tmp_path
):
    url = fifo_queue(sqs, unique)
    items = envelopes(12)
    source = write(tmp_path / "in.ndjson", [*items, items[3]])  # a repeat, sent once
    ledger = str(tmp_path / "l.sqlite")
    dry = ("replay", source, "--to", f"sqs:{unique}.fifo", "--dry-run", "--ledger", ledger)
    summed = invoke("-o", "json", *dry)
    assert summed.exit_code == 0, summed.stderr
    summary = json.loads(summed.stdout)
    assert (summary["dry_run"], summary["would_send"], summary["repeated_in_input"]) == (True, 12, 1)
    assert summary["groups"] == 3 and summary["largest_groups"] == {"g0": 4, "g1": 4, "g2": 4}
    assert [m["id"] for m in summary["first"]] == [f"orig-{n}" for n in range(5)]
    assert [m["id"] for m in summary["last"]] == [f"orig-{n}" for n in range(7, 12)]
    listed = invoke("-o", "ndjson", *dry)
    assert listed.exit_code == 0, listed.stderr
    rows = [json.loads(row) for row in listed.stdout.splitlines()]
    assert [r["id"] for r in rows] == [f"orig-{n}" for n in range(12)]
    assert all(len(r["dedup_id"]) == 64 and r["group_id"] == f"g{n % 3}" for n, r in enumerate(rows))
    assert "would send 12 of 13 read" in listed.stderr
    assert depth(sqs, url) == 0 and not (tmp_path / "l.sqlite").exists()


def test_replay_into_activemq_delivers_everything_with_dedup_ids_and_groups(
    invoke, amq, stomp_conn, unique, tmp_path
):
    items = envelopes(120, attributes={"tenant": {"type": "String", "value": "acme"}})
    source = write(tmp_path / "in.ndjson", items)
    ledger = str(tmp_path / "ledger.sqlite")
    result, report = replay(invoke, source, "--to", f"amq:queue/{unique}", "--ledger", ledger)
    assert result.exit_code == 0, result.stdout[-1500:] + result.stderr
    assert report["replayed"] == 120
    frames = consume_all(stomp_conn, unique, 120)
    seqs = [int(f.headers["seq"]) for f in frames]
    assert Counter(seqs) == Counter(range(120)), "each once"
    for group in range(3):
        assert [s for s in seqs if s % 3 == group] == list(range(group, 120, 3)), "each group in order"
    for frame in frames:
        n = int(frame.headers["seq"])
        assert frame.headers["tenant"] == "acme" and frame.headers["msgctl_group"] == f"g{n % 3}"
        assert len(frame.headers["msgctl_dedup_id"]) == 64 and frame.headers["persistent"] == "true"
        assert json.loads(frame.body)["n"] == n
    assert len({f.headers["msgctl_dedup_id"] for f in frames}) == 120
    again, report = replay(invoke, source, "--to", f"amq:queue/{unique}", "--ledger", ledger)
    assert again.exit_code == 0 and report["already_replayed"] == 120, again.stderr
    assert invoke("-o", "json", "stats", f"amq:queue/{unique}").stdout.count('"depth": 0') == 1


def test_replay_into_an_sns_fifo_topic_arrives_through_its_queue(
    invoke, localstack, localstack_endpoint, unique, tmp_path
):
    sns = boto3_client("sns", localstack_endpoint)
    topic = sns.create_topic(Name=f"{unique}.fifo", Attributes={"FifoTopic": "true"})["TopicArn"]
    url = fifo_queue(localstack, unique)
    queue_arn = localstack.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(
        TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"}
    )
    source = write(tmp_path / "in.ndjson", envelopes(60))
    result, report = replay(
        invoke, source, "--to", f"sns:{unique}.fifo", "--ledger", str(tmp_path / "l.sqlite")
    )
    assert result.exit_code == 0, result.stderr
    assert report["replayed"] == 60
    seqs = [int(m["MessageAttributes"]["seq"]["StringValue"]) for m in drain(localstack, url, 60)]
    assert Counter(seqs) == Counter(range(60))
    for group in range(3):
        in_group = [s for s in seqs if s % 3 == group]
        assert in_group == sorted(in_group)


def test_stdin_input_and_a_missing_file_or_bad_rule(invoke, aws, sqs, unique, tmp_path):
    url = sqs.create_queue(QueueName=unique)["QueueUrl"]
    lines = "".join(json.dumps(item) + "\n" for item in envelopes(7, groups=0))
    ledger = str(tmp_path / "l.sqlite")
    result, report = replay(
        invoke, "-", "--to", f"sqs:{unique}", "--ledger", ledger, "--max", "5", input=lines
    )
    assert result.exit_code == 0 and report["replayed"] == 5, result.stderr
    assert len(drain(sqs, url, 5)) == 5
    missing = invoke("replay", str(tmp_path / "nope.ndjson"), "--to", f"sqs:{unique}")
    assert missing.exit_code == ExitCode.USAGE and "no such file" in missing.stderr
    bad_rule = invoke("replay", "-", "--to", f"sqs:{unique}", "--dedup-id", "template:{who}", input=lines)
    assert bad_rule.exit_code == ExitCode.USAGE and "unknown template field {who}" in bad_rule.stderr


def _replay_process(*args, endpoint):
    return subprocess.Popen(
        [sys.executable, "-m", "msgctl", "-o", "json", "replay", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "AWS_ENDPOINT_URL": endpoint},
    )


def test_a_dry_run_of_a_live_topic_without_max_or_duration_is_refused(aws_endpoint, sqs, sns, unique):
    sns.create_topic(Name=unique)
    sqs.create_queue(QueueName=unique)
    process = _replay_process(f"sns:{unique}", "--to", f"sqs:{unique}", "--dry-run", endpoint=aws_endpoint)
    try:
        _out, err = process.communicate(timeout=30)  # before: it read the topic for ever
    finally:
        process.kill()
    assert process.returncode == ExitCode.USAGE
    assert f"sns:{unique} is a live topic" in err and "--max or --duration" in err


def test_a_dry_run_of_a_live_topic_ends_after_max_messages(aws_endpoint, sqs, sns, unique):
    topic_arn = sns.create_topic(Name=unique)["TopicArn"]
    sqs.create_queue(QueueName=unique)
    process = _replay_process(
        f"sns:{unique}", "--to", f"sqs:{unique}", "--dry-run", "--max", "1", endpoint=aws_endpoint
    )
    try:
        deadline = time.monotonic() + 30
        while not sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]:
            assert time.monotonic() < deadline and process.poll() is None, process.stderr.read()
            time.sleep(0.1)
        sns.publish(TopicArn=topic_arn, Message='{"live": 1}')
        out, err = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert json.loads(out)["would_send"] == 1
    assert sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"] == []


def test_a_live_topic_read_for_a_duration_ends(invoke, aws, sqs, sns, unique):
    sns.create_topic(Name=unique)
    url = sqs.create_queue(QueueName=unique)["QueueUrl"]
    started = time.monotonic()
    result = invoke("-o", "json", "replay", f"sns:{unique}", "--to", f"sqs:{unique}", "--duration", "2s")
    assert result.exit_code == 0, result.stderr
    assert time.monotonic() - started < 30
    assert depth(sqs, url) == 0


def test_duration_is_only_for_a_topic(invoke, aws, sqs, unique, tmp_path):
    source = write(tmp_path / "in.ndjson", envelopes(1, groups=0))
    result = invoke("replay", source, "--to", f"sqs:{unique}", "--duration", "2s")
    assert result.exit_code == ExitCode.USAGE
    assert "--duration is for reading a topic" in result.stderr


def test_a_ledger_that_cannot_be_made_is_a_usage_error_and_nothing_is_sent(
    invoke, aws, sqs, unique, tmp_path
):
    url = sqs.create_queue(QueueName=unique)["QueueUrl"]
    source = write(tmp_path / "in.ndjson", envelopes(3, groups=0))
    result = invoke("replay", source, "--to", f"sqs:{unique}", "--ledger", "/dev/null/ledger.sqlite")
    assert result.exit_code == ExitCode.USAGE, result.stderr
    assert result.stderr.startswith("msgctl: error: cannot use the ledger /dev/null/ledger.sqlite")
    assert depth(sqs, url) == 0
