"""Reading an SQS FIFO queue without consuming sees at most one receive batch of each message group: tail,
dlq export and replay from a channel name the groups they could not read whole and exit 3."""

import json

from msgctl.errors import ExitCode
from tests.fidelity import fidelity
from tests.helpers import depth, fill_fifo_groups

CUT_FIELD = "each message (FIFO group deeper than one batch)"


def _fifo(sqs, name, sizes):
    """A FIFO queue with the groups in ``sizes``, each sent in order; returns its URL."""
    url = sqs.create_queue(QueueName=f"{name}.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    fill_fifo_groups(sqs, url, sizes)
    return url


def _records(stdout):
    return [json.loads(line) for line in stdout.splitlines()]


def _assert_cut(records, stderr, total):
    """What was read is each group's head in order; the last record marks the output partial."""
    *envelopes, marker = records
    assert marker["partial"] is True and marker["cut_groups"] == ["deep"], marker
    bodies = [e["body"] for e in envelopes]
    deep = [b for b in bodies if b.startswith("deep-")]
    assert deep == [f"deep-{n}" for n in range(len(deep))] and 0 < len(deep) < 25
    assert len(bodies) < total
    assert "partial" in stderr and "groups cut: deep" in stderr and "--consume" in stderr


@fidelity("SQS", CUT_FIELD, "dlq export", "exit 3: cut groups named")
def test_export_of_a_group_deeper_than_one_batch_names_it_and_exits_3(invoke, aws_any, unique) -> None:
    sqs = aws_any("sqs")
    url = _fifo(sqs, unique, {"deep": 25, "shallow": 2})
    result = invoke("dlq", "export", f"sqs:{unique}.fifo")
    assert result.exit_code == ExitCode.PARTIAL, result.stderr
    _assert_cut(_records(result.stdout), result.stderr, 27)
    assert depth(sqs, url) == 27, "nothing was consumed"


@fidelity("SQS", CUT_FIELD, "tail", "exit 3: cut groups named")
def test_tail_json_of_a_group_deeper_than_one_batch_ends_with_the_partial_marker(
    invoke, aws_any, unique
) -> None:
    sqs = aws_any("sqs")
    url = _fifo(sqs, unique, {"deep": 25})
    result = invoke("tail", f"sqs:{unique}.fifo", "-o", "json")
    assert result.exit_code == ExitCode.PARTIAL, result.stderr
    _assert_cut(json.loads(result.stdout), result.stderr, 25)
    assert depth(sqs, url) == 25


@fidelity("SQS", CUT_FIELD, "replay", "exit 3: cut groups named")
def test_replay_from_a_fifo_channel_sends_what_it_read_and_exits_3(invoke, aws_any, unique) -> None:
    sqs = aws_any("sqs")
    _fifo(sqs, unique, {"deep": 25})
    target = sqs.create_queue(QueueName=f"{unique}-to.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    result = invoke("replay", f"sqs:{unique}.fifo", "--to", f"sqs:{unique}-to.fifo", "-o", "json")
    assert result.exit_code == ExitCode.PARTIAL, result.stderr
    assert "partial input" in result.stderr and "groups cut: deep" in result.stderr
    report = json.loads(result.stdout)
    assert "deep" in report["partial_input"]
    sent = []
    while batch := sqs.receive_message(QueueUrl=target, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
        "Messages", []
    ):
        sent += [m["Body"] for m in batch]
        for m in batch:
            sqs.delete_message(QueueUrl=target, ReceiptHandle=m["ReceiptHandle"])
    assert sent == [f"deep-{n}" for n in range(report["replayed"])] and 0 < report["replayed"] < 25


def test_a_fifo_queue_read_whole_is_not_partial(invoke, aws_any, unique) -> None:
    sqs = aws_any("sqs")
    _fifo(sqs, unique, {"a": 3, "b": 4})
    result = invoke("dlq", "export", f"sqs:{unique}.fifo")
    assert result.exit_code == 0, result.stderr
    assert sorted(e["body"] for e in _records(result.stdout)) == [f"a-{n}" for n in range(3)] + [
        f"b-{n}" for n in range(4)
    ]
