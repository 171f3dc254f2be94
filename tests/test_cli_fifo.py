"""fifo lag on LocalStack (a receive sweep) and ActiveMQ (browses), checked against what was sent."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from msgctl.errors import ExitCode
from tests.helpers import depth, fill_fifo_groups, wait_depth

SIZES = {"g0": 1, "g1": 3, "g2": 7, "g3": 12, "g4": 25, "g5": 2}


@pytest.fixture
def fifo(localstack, unique):
    """A FIFO queue (maxReceiveCount 5) with six groups of known sizes, heads sent 0.4 s apart."""
    sqs = localstack
    dlq = sqs.create_queue(QueueName=f"{unique}-dlq.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5})
    url = sqs.create_queue(
        QueueName=f"{unique}.fifo", Attributes={"FifoQueue": "true", "RedrivePolicy": redrive}
    )["QueueUrl"]
    head_sent = fill_fifo_groups(sqs, url, SIZES, gap_s=0.4)  # distinct head ages
    return sqs, url, dlq, head_sent


def lag(invoke, channel, *args):
    result = invoke("fifo", "lag", channel, "-o", "json", *args)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_every_group_is_reported_with_head_ages_and_honest_counts(invoke, fifo, unique):
    _sqs, _url, _dlq, head_sent = fifo
    measured_at = time.time()
    report = lag(invoke, f"sqs:{unique}.fifo")
    groups = {g["group"]: g for g in report["groups"]}
    assert set(groups) == set(SIZES), "every group"
    for name, group in groups.items():
        assert abs(group["oldest_age_s"] - (measured_at - head_sent[name])) < 3, name
        assert group["count"] <= SIZES[name], "never above the truth"
        if group["count"] < SIZES[name]:
            assert group["count_is_lower_bound"], f"{name} is short, so its count is a lower bound"
        assert (group["state"], group["head_receive_count"]) == ("waiting", 0)
    assert [g["group"] for g in report["groups"]] == ["g0", "g1", "g2", "g3", "g4", "g5"], "oldest head first"
    assert report["queue"]["receives"] == sum(g["count"] for g in report["groups"])
    assert report["queue"]["approximate_number_of_messages"] == sum(SIZES.values())


def test_two_reports_in_a_row_leave_every_message_visible_and_nothing_in_the_dlq(invoke, fifo, unique):
    sqs, url, dlq, _ = fifo
    first = lag(invoke, f"sqs:{unique}.fifo")
    second = lag(invoke, f"sqs:{unique}.fifo")
    assert {g["group"] for g in second["groups"]} == set(SIZES)
    assert all(g["state"] == "waiting" for g in second["groups"]), (
        "msgctl's own receives do not block a group"
    )
    assert all(g["head_receive_count"] == 1 for g in second["groups"]), "the first report received each head"
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert int(attributes["ApproximateNumberOfMessages"]) == sum(SIZES.values()), "every message visible"
    assert int(attributes["ApproximateNumberOfMessagesNotVisible"]) == 0
    assert depth(sqs, dlq) == 0
    assert first["queue"]["now_one_receive_from_dlq"] == 0


def test_a_redelivered_head_is_blocked_and_a_held_group_is_in_flight(invoke, fifo, unique):
    sqs, url, _, _ = fifo
    # A consumer takes g0 and g1's heads (first in the queue), fails g0 (visibility 0) and keeps g1.
    taken = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2, VisibilityTimeout=60)["Messages"]
    by_group = {m["Body"].split("-")[0]: m["ReceiptHandle"] for m in taken}
    assert set(by_group) == {"g0", "g1"}
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=by_group["g0"], VisibilityTimeout=0)
    report = lag(invoke, f"sqs:{unique}.fifo", "--groups", "g0,g1,g2")
    groups = {g["group"]: g for g in report["groups"]}
    assert (groups["g0"]["state"], groups["g0"]["head_receive_count"]) == ("blocked", 1)
    assert groups["g1"]["state"] == "in-flight" and groups["g1"]["count_is_lower_bound"]
    assert groups["g2"]["state"] == "waiting"
    assert report["queue"]["in_flight_in_uninspected_groups"] == 1


def test_a_small_sample_marks_what_it_could_not_see(invoke, fifo, unique):
    report = lag(invoke, f"sqs:{unique}.fifo", "--sample", "15")
    assert report["queue"]["sample_reached"] and report["queue"]["receives"] == 15
    for group in report["groups"]:
        assert group["count"] <= SIZES[group["group"]]
        if group["count"] < SIZES[group["group"]]:
            assert group["count_is_lower_bound"]


@pytest.mark.slow
def test_nagios_exits_by_threshold(invoke, fifo, unique):
    channel = f"sqs:{unique}.fifo"
    for args, code, word in (
        (("--warn", "5m", "--crit", "10m"), 0, "OK"),
        (("--warn", "1", "--crit", "10m"), 1, "WARNING"),
        (("--warn", "1", "--crit", "2s"), 2, "CRITICAL"),
    ):
        result = invoke("fifo", "lag", channel, "-o", "nagios", *args)
        assert result.exit_code == code, result.stdout + result.stderr
        assert result.stdout.startswith(f"{word}: {channel}") and " | oldest_age=" in result.stdout
        assert len(result.stdout.strip().splitlines()) == 1
    missing = invoke("fifo", "lag", f"sqs:{unique}-nope.fifo", "-o", "nagios")
    assert missing.exit_code == 3 and missing.stdout.startswith("UNKNOWN: ")


def test_prometheus_prints_a_gauge_per_group(invoke, fifo, unique):
    result = invoke("fifo", "lag", f"sqs:{unique}.fifo", "-o", "prometheus")
    assert result.exit_code == 0, result.stderr
    ages = [
        line
        for line in result.stdout.splitlines()
        if line.startswith("msgctl_fifo_group_oldest_age_seconds{")
    ]
    assert len(ages) == 6 and all(float(line.rsplit(" ", 1)[1]) > 0 for line in ages)


def test_a_low_max_receive_count_is_refused_without_a_receive(invoke, localstack, unique):
    sqs = localstack
    dlq = sqs.create_queue(QueueName=f"{unique}-dlq.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(
        QueueName=f"{unique}.fifo",
        Attributes={
            "FifoQueue": "true",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": 2}),
        },
    )["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="g", MessageDeduplicationId="1")
    result = invoke("fifo", "lag", f"sqs:{unique}.fifo")
    assert result.exit_code == ExitCode.USAGE and "--force" in result.stderr
    message = sqs.receive_message(QueueUrl=url, AttributeNames=["All"])["Messages"][0]
    assert message["Attributes"]["ApproximateReceiveCount"] == "1", "the refusal received nothing"
    assert invoke("fifo", "lag", "sqs:" + unique + "-dlq.fifo", "--force").exit_code == 0


def test_activemq_groups_are_counted_exactly_and_the_depth_is_unchanged(invoke, amq, stomp_conn, unique):
    sizes = {"red": 4, "green": 7, "blue": 11}
    for group, size in sizes.items():
        for n in range(size):
            stomp_conn.send(
                f"/queue/{unique}",
                f"{group}-{n}".encode(),
                headers={"persistent": "true", "JMSXGroupID": group},
            )
    stomp_conn.send(f"/queue/{unique}", b"no group", headers={"persistent": "true"})
    wait_depth(invoke, unique, 23)
    report = lag(invoke, f"amq:queue/{unique}", "--groups", "red,green,blue")
    counted = {g["group"]: (g["count"], g["count_is_lower_bound"]) for g in report["groups"]}
    assert counted == {group: (size, False) for group, size in sizes.items()}
    assert all(g["oldest_age_s"] is not None and g["oldest_age_s"] < 60 for g in report["groups"])
    wait_depth(invoke, unique, 23)  # browsing consumed nothing


def test_activemq_groups_by_the_property_msgctl_sets(invoke, amq, unique):
    for group, size in {"a": 2, "b": 5}.items():
        for n in range(size):
            assert invoke("send", f"amq:queue/{unique}", f"{group}{n}", "--group-id", group).exit_code == 0
    report = lag(invoke, f"amq:queue/{unique}")
    assert {g["group"]: g["count"] for g in report["groups"]} == {"a": 2, "b": 5}
    assert report["queue"]["depth"] == 7 and "msgctl_group" in report["queue"]["measured"]


@pytest.mark.slow
def test_watch_stops_before_a_sweep_would_leave_messages_one_receive_from_the_dlq(invoke, fifo, unique):
    sqs, url, dlq, _ = fifo
    result = invoke("fifo", "lag", f"sqs:{unique}.fifo", "--watch", "1")
    assert result.exit_code == ExitCode.FAILED and "stopped watching" in result.stderr
    assert "GROUP" in result.stdout and "waiting" in result.stdout
    heads = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"])["Messages"]
    assert max(int(m["Attributes"]["ApproximateReceiveCount"]) for m in heads) == 4, "3 sweeps + this receive"
    assert depth(sqs, dlq) == 0


def _not_visible(sqs, url):
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessagesNotVisible"])


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_sweep_stops_between_receives_and_leaves_nothing_in_flight(
    localstack, localstack_endpoint, unique, signum
):
    """Interrupted in the middle of a receive, the sweep must not give up on that receive: LocalStack
    completes it anyway, and what it returned would stay in flight for the whole --hold."""
    sqs = localstack
    url = sqs.create_queue(QueueName=f"{unique}.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    total = 300
    for start in range(0, total, 10):
        sqs.send_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(n), "MessageBody": str(n), "MessageGroupId": f"g{n}",
                 "MessageDeduplicationId": str(n)}
                for n in range(start, start + 10)
            ],
        )  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "msgctl", "fifo", "lag", f"sqs:{unique}.fifo", "--hold", "300", "-o", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "AWS_ENDPOINT_URL": localstack_endpoint},
    )
    deadline = time.monotonic() + 30
    while _not_visible(sqs, url) < 30:  # the sweep is under way: a receive every few milliseconds
        assert time.monotonic() < deadline and process.poll() is None, process.communicate()
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == ExitCode.INTERRUPTED, stderr
    assert "Traceback" not in stderr
    assert _not_visible(sqs, url) == 0, "everything the sweep received was released"
    assert depth(sqs, url) == total


def test_lags_stop_before_a_sweep_would_push_messages_toward_the_dlq(invoke, localstack, unique):
    """maxReceiveCount 3: two sweeps leave every message at 2 receives; a third would leave them one receive
    from the DLQ (a fourth would move them there), so it refuses before receiving, as tail does."""
    sqs = localstack
    dlq = sqs.create_queue(QueueName=f"{unique}-dlq.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 3})
    url = sqs.create_queue(
        QueueName=f"{unique}.fifo", Attributes={"FifoQueue": "true", "RedrivePolicy": redrive}
    )["QueueUrl"]
    sqs.send_message_batch(
        QueueUrl=url,
        Entries=[
            {"Id": str(n), "MessageBody": str(n), "MessageGroupId": f"g{n}", "MessageDeduplicationId": str(n)}
            for n in range(3)
        ],
    )
    for _ in range(2):
        assert len(lag(invoke, f"sqs:{unique}.fifo")["groups"]) == 3
    refused = invoke("fifo", "lag", f"sqs:{unique}.fifo", "-o", "json")
    assert refused.exit_code == ExitCode.USAGE and "--force" in refused.stderr and refused.stdout == ""
    assert depth(sqs, dlq) == 0
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"])["Messages"]
    assert {m["Attributes"]["ApproximateReceiveCount"] for m in received} == {"3"}, "two sweeps and this one"
