"""Faults on the wire between msgctl and LocalStack (500s, throttling, replies lost after the server did the
work): redrive and replay lose nothing, and every duplicate comes from a lost reply and is named. Each test
checks against what the queues hold, read directly."""

import json
import time
import zlib
from collections import Counter

import pytest

from tests.fault_proxy import FaultProxy
from tests.helpers import dead_letter_pair, depth, drain

SEED = 20261129
RATES = {"error": 0.04, "throttle": 0.04, "drop": 0.06}


@pytest.fixture
def faulty(localstack, localstack_endpoint, monkeypatch, request):
    """msgctl pointed at a fault-injecting proxy in front of LocalStack (which the tests read directly)."""
    seed = SEED + zlib.crc32(request.node.name.encode())  # fixed per test, different between tests
    with FaultProxy(localstack_endpoint, seed, **RATES) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        yield proxy


def _wait_for_holds_to_end(sqs, url, timeout=30):
    """A receive whose reply was lost hides its messages until their hold ends: wait for them."""
    deadline = time.monotonic() + timeout
    while True:
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        if attributes["ApproximateNumberOfMessagesNotVisible"] == "0":
            return
        if time.monotonic() >= deadline:
            pytest.fail(
                f"{attributes['ApproximateNumberOfMessagesNotVisible']} messages of {url} still held "
                f"after {timeout} s ({attributes['ApproximateNumberOfMessages']} visible)"
            )
        time.sleep(0.5)


@pytest.mark.slow
def test_redrive_through_faults_loses_no_message_and_names_every_duplicate(
    invoke, localstack, faulty, unique, tmp_path
):
    url, dlq, ids = dead_letter_pair(localstack, unique, 300)
    number_of = dict(ids)
    named: set[str] = set()
    for attempt in range(4):  # messages hidden by a lost receive reply are moved by the next run
        result = invoke(
            "-o", "json", "dlq", "redrive", f"sqs:{unique}-dlq", "--yes", "--engine", "client",
            "--concurrency", "2", "--hold", "10", "--journal", str(tmp_path / f"journal-{attempt}.sqlite"),
        )  # fmt: skip
        assert result.exit_code in (0, 3), result.stderr
        named |= set(json.loads(result.stdout)["possible_duplicates"])
        _wait_for_holds_to_end(localstack, dlq)
        if depth(localstack, dlq) == 0:
            break
    assert depth(localstack, dlq) == 0
    moved = Counter(json.loads(m["Body"])["n"] for m in drain(localstack, url, 300))
    assert set(moved) == set(range(300)), "no message lost"
    duplicated = {n for n, count in moved.items() if count > 1}
    assert duplicated <= {number_of[i] for i in named}, "every duplicate is named"
    assert len(duplicated) <= 10 * faulty.count("drop", "SendMessageBatch"), (
        "duplicates only from lost replies"
    )
    assert faulty.count("drop", "SendMessageBatch") and faulty.count("error") and faulty.count("throttle"), (
        faulty.injected
    )


@pytest.mark.slow
@pytest.mark.parametrize("fifo", [False, True], ids=["standard", "fifo"])
def test_replay_through_faults_delivers_every_message_and_names_every_duplicate(
    invoke, localstack, faulty, unique, tmp_path, fifo
):
    suffix = ".fifo" if fifo else ""
    url = localstack.create_queue(
        QueueName=unique + suffix, Attributes={"FifoQueue": "true"} if fifo else {}
    )["QueueUrl"]
    source = tmp_path / "in.ndjson"
    source.write_text(
        "".join(
            json.dumps({"id": f"m{n}", "body": f"b{n}", "attributes": {"group_id": f"g{n % 3}"}}) + "\n"
            for n in range(300)
        )
    )
    named: set[str] = set()
    for _ in range(3):  # a rerun sends what a run could not (the ledger skips the rest)
        result = invoke(
            "-o", "json", "replay", str(source), "--to", f"sqs:{unique}{suffix}",
            "--ledger", str(tmp_path / "ledger.sqlite"),
        )  # fmt: skip
        assert result.exit_code in (0, 3), result.stderr
        report = json.loads(result.stdout)
        named |= {d["id"] for d in report["possible_duplicates"]}
        if result.exit_code == 0:
            break
    assert result.exit_code == 0, result.stdout
    received = Counter(m["Body"] for m in drain(localstack, url, 300))
    assert set(received) == {f"b{n}" for n in range(300)}, "every message delivered"
    duplicated = {body.replace("b", "m", 1) for body, count in received.items() if count > 1}
    assert duplicated <= named, "every duplicate is named"
    if fifo:
        assert not duplicated and not named, "a FIFO queue drops the resend of a lost reply"
    assert len(duplicated) <= 10 * faulty.count("drop", "SendMessageBatch")
    assert faulty.count("drop", "SendMessageBatch"), (
        f"the seed injected no lost send reply: {faulty.injected}"
    )


@pytest.mark.slow
def test_a_lost_receive_reply_is_waited_for_and_every_message_moved(
    invoke, localstack, localstack_endpoint, unique, tmp_path, monkeypatch
):
    """Two ReceiveMessage replies are lost: the server hid those 20 messages for a receive msgctl never saw.
    The run waits for them to come back (saying how long) and moves them: 100 moved, exit 0."""
    url, dlq, _ = dead_letter_pair(localstack, unique, 100)  # 12 receives: the 3rd and 8th are mid-run
    planned = {"ReceiveMessage": {3: "drop", 8: "drop"}}
    with FaultProxy(localstack_endpoint, SEED, planned=planned) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        result = invoke(
            "-o", "json", "dlq", "redrive", f"sqs:{unique}-dlq", "--yes", "--engine", "client",
            "--concurrency", "2", "--journal", str(tmp_path / "journal.sqlite"),
        )  # fmt: skip
    assert proxy.count("drop", "ReceiveMessage") == 2
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["moved"], report["failed"], report["still_held"]) == (100, [], 0)
    assert "are held by a receive this run did not see" in result.stderr
    assert "waiting up to 15 s" in result.stderr and "they came back after" in result.stderr
    moved = Counter(json.loads(m["Body"])["n"] for m in drain(localstack, url, 100))
    assert moved == Counter(range(100)), "each message once"
    assert depth(localstack, dlq) == 0


def test_holds_that_do_not_end_fail_the_test_saying_what_was_seen():
    class StillHeld:
        def get_queue_attributes(self, **_):
            return {
                "Attributes": {
                    "ApproximateNumberOfMessagesNotVisible": "7",
                    "ApproximateNumberOfMessages": "2",
                }
            }

    with pytest.raises(pytest.fail.Exception, match=r"7 messages of q still held after 0 s \(2 visible\)"):
        _wait_for_holds_to_end(StillHeld(), "q", timeout=0)
