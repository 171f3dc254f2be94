"""tail shows what is in a channel without changing what consumers will see."""

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest

from msgctl.errors import ExitCode
from tests.helpers import drain


def _queue(sqs, name, count, max_receive_count=5, attributes=None):
    dlq = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count})
    url = sqs.create_queue(QueueName=name, Attributes={"RedrivePolicy": redrive, **(attributes or {})})[
        "QueueUrl"
    ]
    for start in range(0, count, 10):
        sqs.send_message_batch(
            QueueUrl=url,
            Entries=[
                {
                    "Id": str(n),
                    "MessageBody": json.dumps({"n": n}),
                    "MessageAttributes": {
                        "kind": {"DataType": "String", "StringValue": "even" if n % 2 == 0 else "odd"}
                    },
                }
                for n in range(start, min(start + 10, count))
            ],
        )
    return url, dlq


def _depths(sqs, url):
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


@pytest.mark.slow
def test_four_tails_in_a_row_show_everything_and_change_nothing(invoke, aws, sqs, unique) -> None:
    url, dlq = _queue(sqs, unique, 50)
    for run in range(4):
        result = invoke("tail", f"sqs:{unique}", "-o", "ndjson")
        assert result.exit_code == 0, result.stderr
        envelopes = [json.loads(line) for line in result.stdout.splitlines()]
        assert sorted(json.loads(e["body"])["n"] for e in envelopes) == list(range(50)), f"tail {run + 1}"
        assert {e["attributes"]["receive_count"] for e in envelopes} == {run + 1}
        assert _depths(sqs, url) == (50, 0), "everything is visible again"
    assert _depths(sqs, dlq) == (0, 0), "nothing reached the DLQ"


def test_a_queue_that_dead_letters_after_two_receives_is_refused(invoke, aws, sqs, unique) -> None:
    url, _ = _queue(sqs, unique, 3, max_receive_count=2)
    result = invoke("tail", f"sqs:{unique}")
    assert result.exit_code == ExitCode.USAGE
    assert "--force" in result.stderr
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"])["Messages"]
    assert {m["Attributes"]["ApproximateReceiveCount"] for m in received} == {"1"}, "tail received nothing"


def test_after_the_scan_it_warns_what_is_one_receive_from_the_dlq(invoke, aws, sqs, unique) -> None:
    url, _ = _queue(sqs, unique, 2, max_receive_count=3)
    for _ in range(2):  # receive count 2; the tail's receive makes it 3: the next receive dead-letters them
        assert (
            len(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0)["Messages"])
            == 2
        )
    result = invoke("tail", f"sqs:{unique}", "--max", "5")
    assert result.exit_code == 0
    assert "2 messages are now one receive away from the DLQ" in result.stderr


def test_tails_stop_before_their_receive_would_take_messages_to_the_dlq_limit(
    invoke, aws, sqs, unique
) -> None:
    """maxReceiveCount 3: two tails leave the messages at 2 receives; a third would leave them one receive
    from the DLQ and a fourth would move them there, so each stops before receiving unless --force."""
    url, dlq = _queue(sqs, unique, 2, max_receive_count=3)
    for _ in range(2):
        shown = invoke("tail", f"sqs:{unique}", "-o", "ndjson")
        assert shown.exit_code == 0, shown.stderr
        assert len(shown.stdout.splitlines()) == 2
    refused = invoke("tail", f"sqs:{unique}", "-o", "ndjson")
    assert refused.exit_code == ExitCode.USAGE, refused.stderr
    assert "2 messages" in refused.stderr and "--force" in refused.stderr and refused.stdout == ""
    forced = invoke("tail", f"sqs:{unique}", "-o", "ndjson", "--force")
    assert forced.exit_code == 0, forced.stderr
    counts = [json.loads(line)["attributes"]["receive_count"] for line in forced.stdout.splitlines()]
    assert counts == [3, 3], "the refused tail received nothing"
    assert "2 messages are now one receive away from the DLQ" in forced.stderr
    again = invoke("tail", f"sqs:{unique}", "-o", "ndjson")
    assert again.exit_code == ExitCode.USAGE and again.stdout == ""
    assert _depths(sqs, url) == (2, 0), "both still in the queue, visible"
    assert _depths(sqs, dlq) == (0, 0), "nothing reached the DLQ"


@pytest.mark.slow
def test_a_record_of_messages_consumers_took_since_does_not_block_the_next_tail(
    invoke, aws, sqs, unique
) -> None:
    url, _dlq = _queue(sqs, unique, 2, max_receive_count=3)
    for _ in range(2):  # two tails leave both messages one receive from the limit
        assert invoke("tail", f"sqs:{unique}", "-o", "ndjson").exit_code == 0
    assert invoke("tail", f"sqs:{unique}", "-o", "ndjson").exit_code == ExitCode.USAGE
    for message in drain(sqs, url, 2):  # consumers take them: the record names messages that are gone
        assert message["Body"]
    assert _depths(sqs, url) == (0, 0)
    again = invoke("tail", f"sqs:{unique}", "-o", "ndjson")
    assert (again.exit_code, again.stdout) == (0, ""), again.stderr


def test_a_tail_says_when_its_receive_may_have_dead_lettered_what_the_queue_showed(
    invoke, aws_any, unique
) -> None:
    sqs = aws_any("sqs")
    url, dlq = _queue(sqs, unique, 2, max_receive_count=3)
    for _ in range(3):  # receives msgctl does not know about: the next receive dead-letters both
        assert (
            len(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0)["Messages"])
            == 2
        )
    result = invoke("tail", f"sqs:{unique}", "-o", "ndjson")
    assert result.exit_code == 0 and result.stdout == ""
    assert "2 messages the queue showed were not received" in result.stderr
    assert "moved them to the DLQ" in result.stderr
    assert _depths(sqs, dlq)[0] == 2, "they are in the DLQ, as the tail said they may be"


def test_filter_grep_since_and_max_select(invoke, aws, sqs, unique) -> None:
    _queue(sqs, unique, 20)
    evens = invoke("tail", f"sqs:{unique}", "--filter", '{"kind": ["even"]}', "-o", "ndjson")
    assert len(evens.stdout.splitlines()) == 10
    assert "10 skipped" in evens.stderr
    grep = invoke("tail", f"sqs:{unique}", "--grep", r'"n": 1\d', "-o", "ndjson")
    assert sorted(json.loads(json.loads(line)["body"])["n"] for line in grep.stdout.splitlines()) == list(
        range(10, 20)
    )
    assert len(invoke("tail", f"sqs:{unique}", "-n", "3", "-o", "ndjson").stdout.splitlines()) == 3
    assert invoke("tail", f"sqs:{unique}", "--since", "1h", "-o", "ndjson").stdout.count("\n") == 20
    # sent before the tails above ran, so all older than a millisecond
    assert invoke("tail", f"sqs:{unique}", "--since", "1ms", "-o", "ndjson").stdout == ""
    bad = invoke("tail", f"sqs:{unique}", "--since", "yesterday")
    assert bad.exit_code == ExitCode.USAGE


def test_consume_needs_confirmation_then_deletes_what_it_printed(invoke, aws, sqs, unique) -> None:
    url, _ = _queue(sqs, unique, 5)
    refused = invoke("tail", f"sqs:{unique}", "--consume")
    assert refused.exit_code == ExitCode.USAGE
    assert _depths(sqs, url) == (5, 0)
    drained = invoke("tail", f"sqs:{unique}", "--consume", "--yes", "-n", "3", "-o", "ndjson")
    assert drained.exit_code == 0
    assert len(drained.stdout.splitlines()) == 3
    assert _depths(sqs, url) == (2, 0), "three deleted, the rest released"


def test_pretty_output_on_a_terminal_shape(invoke, aws, sqs, unique, monkeypatch) -> None:
    _queue(sqs, unique, 1)
    result = invoke("tail", f"sqs:{unique}", "-o", "pretty")
    lines = result.stdout.splitlines()
    assert f"sqs:{unique}" in lines[0] and "receives 1" in lines[0]
    assert lines[1].strip() == "kind=even"
    assert lines[2:5] == ["  {", '    "n": 0', "  }"]


def _msgctl(*args, env):
    return subprocess.Popen(
        [sys.executable, "-m", "msgctl", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _env(extra):
    return {**os.environ, **extra}


def test_sigterm_in_the_middle_of_a_follow_releases_everything(aws_endpoint, sqs, unique) -> None:
    url, _ = _queue(sqs, unique, 30)
    process = _msgctl(
        "tail",
        f"sqs:{unique}",
        "--follow",
        "--hold",
        "300",
        "-o",
        "ndjson",
        env=_env({"AWS_ENDPOINT_URL": aws_endpoint}),
    )
    first = process.stdout.readline()
    assert first, process.stderr.read()
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)
    assert process.returncode == ExitCode.INTERRUPTED, process.stderr.read()
    assert _depths(sqs, url) == (30, 0), "held messages were released, not left invisible for 300 s"


@pytest.mark.parametrize("follow", [True, False], ids=["follow", "snapshot"])
def test_ctrl_c_ends_tail_with_130_and_releases_everything(aws_endpoint, sqs, unique, follow) -> None:
    url, _ = _queue(sqs, unique, 30)
    process = _msgctl(
        "tail",
        f"sqs:{unique}",
        *(["--follow"] if follow else ["--wait", "600"]),
        "--hold",
        "300",
        "-o",
        "ndjson",
        env=_env({"AWS_ENDPOINT_URL": aws_endpoint}),
    )
    first = process.stdout.readline()
    assert first, process.stderr.read()
    process.send_signal(signal.SIGINT)
    process.wait(timeout=30)
    stderr = process.stderr.read()
    assert process.returncode == ExitCode.INTERRUPTED, stderr
    assert stderr.strip().splitlines()[-1] == "msgctl: error: interrupted"
    assert _depths(sqs, url) == (30, 0), "held messages were released, not left invisible for 300 s"


def test_a_closed_pipe_ends_tail_quietly_with_0_and_releases_everything(aws_endpoint, sqs, unique) -> None:
    # 30 envelopes of ~4 KB are more than a pipe buffers, so tail is still writing when the reader leaves.
    url, _ = _queue(sqs, unique, 30, attributes={"MaximumMessageSize": "262144"})
    big = "x" * 4000
    for start in range(0, 30, 10):
        entries = [{"Id": str(n), "MessageBody": big} for n in range(start, start + 10)]
        sqs.send_message_batch(QueueUrl=url, Entries=entries)
    process = _msgctl(
        "tail", f"sqs:{unique}", "--hold", "300", "-o", "ndjson", env=_env({"AWS_ENDPOINT_URL": aws_endpoint})
    )
    first = process.stdout.readline()
    assert first, process.stderr.read()
    process.stdout.close()  # as `| head -1` does
    process.wait(timeout=60)
    stderr = process.stderr.read()
    assert (process.returncode, stderr) == (0, "")
    assert _depths(sqs, url) == (60, 0), "held messages were released, not left invisible for 300 s"


def test_a_closed_pipe_during_tail_consume_is_an_error_not_a_quiet_0(aws_endpoint, sqs, unique) -> None:
    """--consume deleted what it wrote; a reader that left early may not have read it: never a quiet 0."""
    url, _ = _queue(sqs, unique, 30, attributes={"MaximumMessageSize": "262144"})
    big = "x" * 4000
    for start in range(0, 30, 10):
        entries = [{"Id": str(n), "MessageBody": big} for n in range(start, start + 10)]
        sqs.send_message_batch(QueueUrl=url, Entries=entries)
    process = _msgctl(
        "tail",
        f"sqs:{unique}",
        "--consume",
        "--yes",
        "-o",
        "ndjson",
        env=_env({"AWS_ENDPOINT_URL": aws_endpoint}),
    )
    first = process.stdout.readline()
    assert first, process.stderr.read()
    process.stdout.close()
    process.wait(timeout=60)
    stderr = process.stderr.read()
    assert process.returncode == ExitCode.FAILED, stderr
    assert stderr.strip().splitlines()[-1] == (
        "msgctl: error: standard output was closed before msgctl could write all of its output"
    )


def test_topic_tail_prints_what_is_published_and_cleans_up_on_sigint(aws_endpoint, sqs, sns, unique) -> None:
    topic_arn = sns.create_topic(Name=unique)["TopicArn"]
    process = _msgctl("tail", f"sns:{unique}", "-o", "ndjson", env=_env({"AWS_ENDPOINT_URL": aws_endpoint}))
    deadline = time.monotonic() + 30
    while not sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]:
        assert time.monotonic() < deadline and process.poll() is None, process.stderr.read()
        time.sleep(0.1)
    endpoint = sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"][0]["Endpoint"]
    ephemeral = sqs.get_queue_url(QueueName=endpoint.rsplit(":", 1)[-1])["QueueUrl"]
    policy = json.loads(
        sqs.get_queue_attributes(QueueUrl=ephemeral, AttributeNames=["Policy"])["Attributes"]["Policy"]
    )
    [statement] = policy["Statement"]
    assert (statement["Principal"], statement["Action"]) == (
        {"Service": "sns.amazonaws.com"},
        "sqs:SendMessage",
    )
    assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": topic_arn}}, "this topic only"
    sns.publish(
        TopicArn=topic_arn,
        Message='{"hello": "tail"}',
        MessageAttributes={"kind": {"DataType": "String", "StringValue": "greeting"}},
    )
    envelope = json.loads(process.stdout.readline())
    assert (envelope["body"], envelope["channel"]) == ('{"hello": "tail"}', f"sns:{unique}")
    assert envelope["message_attributes"] == {"kind": {"type": "String", "value": "greeting"}}
    process.send_signal(signal.SIGINT)
    process.wait(timeout=30)
    assert sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"] == []
    assert not sqs.list_queues(QueueNamePrefix=f"msgctl-tail-{unique}").get("QueueUrls")


def test_gc_removes_old_leftover_tail_queues(invoke, aws, sqs, unique) -> None:
    old = (datetime.now(UTC) - timedelta(hours=2)).isoformat(timespec="seconds")
    new = datetime.now(UTC).isoformat(timespec="seconds")
    sqs.create_queue(QueueName=f"msgctl-tail-{unique}-old", tags={"msgctl:ephemeral": old})
    sqs.create_queue(QueueName=f"msgctl-tail-{unique}-new", tags={"msgctl:ephemeral": new})
    result = invoke("tail", "--gc")
    assert result.exit_code == 0
    assert f"sqs:msgctl-tail-{unique}-old" in result.stdout.splitlines()
    left = [
        u.rsplit("/", 1)[-1] for u in sqs.list_queues(QueueNamePrefix=f"msgctl-tail-{unique}")["QueueUrls"]
    ]
    assert left == [f"msgctl-tail-{unique}-new"]


def _fill(stomp_conn, destination, count):
    for n in range(count):
        headers = {"persistent": "true", "n": str(n)}
        stomp_conn.send(destination, json.dumps({"n": n}).encode(), headers=headers)


def _amq_depth(invoke, name):
    return json.loads(invoke("stats", f"amq:queue/{name}", "-o", "json").stdout)["depth"]


def test_activemq_browse_leaves_the_queue_depth_unchanged(invoke, amq, stomp_conn, unique) -> None:
    _fill(stomp_conn, f"/queue/{unique}", 7)
    deadline = time.monotonic() + 10
    while invoke("stats", f"amq:queue/{unique}").exit_code != 0 or _amq_depth(invoke, unique) != 7:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    for _ in range(2):
        result = invoke("tail", f"amq:queue/{unique}", "-o", "ndjson")
        assert result.exit_code == 0, result.stderr
        envelopes = [json.loads(line) for line in result.stdout.splitlines()]
        assert [json.loads(e["body"])["n"] for e in envelopes] == list(range(7))
        assert envelopes[0]["attributes"]["persistent"] is True
        assert envelopes[0]["message_attributes"]["n"] == {"type": "String", "value": "0"}
        assert _amq_depth(invoke, unique) == 7


def test_activemq_consume_acks_what_it_printed(invoke, amq, stomp_conn, unique) -> None:
    _fill(stomp_conn, f"/queue/{unique}", 4)
    result = invoke("tail", f"amq:queue/{unique}", "--consume", "--yes", "-n", "3", "-o", "ndjson")
    assert result.exit_code == 0, result.stderr
    assert len(result.stdout.splitlines()) == 3
    deadline = time.monotonic() + 10
    while _amq_depth(invoke, unique) != 1:
        assert time.monotonic() < deadline, "the unprinted message went back to the queue"
        time.sleep(0.1)


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90), ("90s", 90), ("15m", 900), ("2h", 7200), ("1d", 86400), ("500ms", 0.5)]
)
def test_durations(text, seconds) -> None:
    from msgctl.core.tail import parse_duration

    assert parse_duration(text).total_seconds() == seconds
