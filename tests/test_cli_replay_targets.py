"""What the target does with what replay and redrive send: every captured message kept (identical bodies
too), SNS batches cut by size, and sends a FIFO target dropped as duplicates named, not counted as sent."""

import json

from tests.fidelity import fidelity
from tests.helpers import drain

ATTRIBUTES = {
    "s": {"DataType": "String", "StringValue": "text ünïcode"},
    "n": {"DataType": "Number", "StringValue": "301.50"},
    "b": {"DataType": "Binary", "BinaryValue": b"\x00\xffbinary"},
}


def _json(result):
    return json.loads(result.stdout) if result.stdout.strip().startswith(("{", "[")) else None


def _replay(invoke, source, to, ledger, *args):
    result = invoke("-o", "json", "replay", source, "--to", to, "--ledger", str(ledger), *args)
    return result, _json(result)


@fidelity("SQS", "each captured message (identical bodies)", "replay")
@fidelity("SQS", "body", "replay")
@fidelity("SQS", "message attributes (String, Number, Binary, custom types)", "replay")
def test_three_identical_dead_letters_export_and_replay_as_three_messages(invoke, aws, sqs, unique, tmp_path):
    dlq = sqs.create_queue(QueueName=f"{unique}-dlq")["QueueUrl"]
    target = sqs.create_queue(QueueName=f"{unique}-target")["QueueUrl"]
    sent = [
        sqs.send_message(QueueUrl=dlq, MessageBody="same body", MessageAttributes=ATTRIBUTES)["MessageId"]
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
        assert message["MessageAttributes"] == ATTRIBUTES
    again, report = _replay(invoke, source, f"sqs:{unique}-target", ledger)
    assert again.exit_code == 0 and (report["replayed"], report["already_replayed"]) == (0, 3)
    assert drain(sqs, target, 0, timeout=2) == [], "a second replay sends nothing"
