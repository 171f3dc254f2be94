"""msgctl as a library: Client against the moto server, checked with boto3; it prints nothing."""

import json
import subprocess
import sys
from collections import Counter

import pytest

from msgctl import Client, Envelope, MsgctlError
from msgctl.errors import Interrupted, NotFoundError, UsageError
from tests.helpers import dead_letter_pair, depth, drain


def _not_visible(sqs, url):
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessagesNotVisible"])


def test_import_msgctl_and_making_a_client_load_no_broker_library():
    code = (
        "import sys, msgctl\n"
        "from msgctl import Client, Envelope, MsgctlError\n"
        "Client.from_env()\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'boto3', 'botocore', 'stomp', 'rich'}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_package_ships_py_typed():
    import importlib.resources

    assert importlib.resources.files("msgctl").joinpath("py.typed").is_file()


def test_arguments_beat_the_environment_which_beats_the_config_file(tmp_path, monkeypatch):
    config = tmp_path / "config.toml"
    config.write_text('[aws]\nprofile = "from-file"\nregion = "eu-north-1"\n')
    monkeypatch.setenv("MSGCTL_CONFIG", str(config))
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    assert Client.from_env().settings.region == "eu-north-1"
    assert Client.from_env().settings.profile == "from-file"
    monkeypatch.setenv("AWS_REGION", "ap-south-1")
    assert Client.from_env().settings.region == "ap-south-1"
    assert Client(region="sa-east-1").settings.region == "sa-east-1"
    assert Client(broker="stomp://h:1").settings.broker == "stomp://h:1"


def test_channels_stats_and_send_read_back_with_boto3(aws, sqs, unique):
    url = sqs.create_queue(QueueName=unique)["QueueUrl"]
    with Client.from_env() as client:
        receipt = client.send(f"sqs:{unique}", "hello", {"kind": "order", "n": 7, "raw": b"\x00\x01"})
        listed = {c.channel: c for c in client.channels("sqs", prefix=unique)}
        stats = client.stats(f"sqs:{unique}")
    assert list(listed) == [f"sqs:{unique}"] and listed[f"sqs:{unique}"].kind == "queue"
    assert (stats.channel, stats.depth, stats.in_flight) == (f"sqs:{unique}", 1, 0)
    [message] = drain(sqs, url, 1)
    assert message["MessageId"] == receipt.id and message["Body"] == "hello"
    assert message["MessageAttributes"] == {
        "kind": {"DataType": "String", "StringValue": "order"},
        "n": {"DataType": "Number", "StringValue": "7"},
        "raw": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
    }


def test_errors_are_msgctl_errors_with_exit_codes(aws, unique):
    client = Client.from_env()
    with pytest.raises(NotFoundError) as missing:
        client.stats(f"sqs:{unique}-missing")
    assert isinstance(missing.value, MsgctlError) and missing.value.exit_code == 4
    with pytest.raises(UsageError) as bad:
        client.redrive(f"sqs:{unique}", filter='{"kind": "not a list"}')
    assert bad.value.exit_code == 2


def test_a_capability_a_broker_lacks_is_one_clear_error_before_anything_moves(aws, amq, sqs, unique):
    client = Client.from_env()
    with pytest.raises(UsageError) as amq_native:
        client.redrive(f"amq:queue/DLQ.{unique}", engine="native")
    assert amq_native.value.message.startswith("amq: native redrive is not supported")
    url, dlq, _ = dead_letter_pair(sqs, unique, 3)
    with pytest.raises(UsageError) as to_a_topic:
        client.redrive(f"sqs:{unique}-dlq", to=f"sns:{unique}", engine="native")
    assert "the native engine moves to SQS queues only" in to_a_topic.value.message
    assert depth(sqs, dlq) == 3 and depth(sqs, url) == 0


def test_tail_releases_what_it_held_when_the_block_ends(aws, sqs, unique):
    url = sqs.create_queue(QueueName=unique)["QueueUrl"]
    for n in range(5):
        sqs.send_message(
            QueueUrl=url,
            MessageBody=json.dumps({"n": n}),
            MessageAttributes={
                "kind": {"DataType": "String", "StringValue": "even" if n % 2 == 0 else "odd"}
            },
        )
    client = Client.from_env()
    with client.tail(f"sqs:{unique}", max=10, filter={"kind": ["even"]}) as messages:
        envelopes = list(messages)
    assert all(isinstance(envelope, Envelope) for envelope in envelopes)
    assert sorted(json.loads(envelope.body)["n"] for envelope in envelopes) == [0, 2, 4]
    assert messages.partial is None and messages.report.skipped == 2
    assert _not_visible(sqs, url) == 0, "released on exit"
    assert depth(sqs, url) == 5, "nothing consumed"
    exported = list(client.export(f"sqs:{unique}"))
    assert sorted(json.loads(e.body)["n"] for e in exported) == list(range(5))
    assert _not_visible(sqs, url) == 0


def test_a_redrive_prints_nothing_and_its_warnings_go_to_the_callback(aws, sqs, unique, capfd, tmp_path):
    url, dlq, _ids = dead_letter_pair(sqs, unique, 20)
    warnings = []
    client = Client.from_env(on_warning=warnings.append)
    events = []
    result = client.redrive(
        f"sqs:{unique}-dlq",
        engine="client",
        filter={"kind": ["even"]},
        journal=tmp_path / "j.sqlite",
        on_progress=events.append,
    )
    assert (result.moved, result.failed, result.complete) == (10, {}, True)
    assert result.engine == "client" and result.target == f"sqs:{unique}"
    assert events and events[-1].done == 10 and events[-1].label == f"sqs:{unique}-dlq -> sqs:{unique}"
    moved = Counter(json.loads(m["Body"])["n"] for m in drain(sqs, url, 10))
    assert moved == Counter(range(0, 20, 2))
    assert depth(sqs, dlq) == 10
    assert capfd.readouterr() == ("", "")


def test_a_dry_run_moves_nothing_and_a_declined_confirmation_changes_nothing(aws, sqs, unique, tmp_path):
    _url, dlq, _ids = dead_letter_pair(sqs, unique, 6)
    client = Client.from_env()
    plan = client.redrive(f"sqs:{unique}-dlq", engine="client", dry_run=True)
    assert len(plan.would_move) == 6 and plan.moved == 0
    with pytest.raises(UsageError, match="declined"):
        client.redrive(f"sqs:{unique}-dlq", engine="client", confirm=lambda question: False)
    assert depth(sqs, dlq) == 6


def test_an_interrupted_redrive_keeps_its_journal_and_resume_moves_each_message_once(
    aws, sqs, unique, tmp_path
):
    url, dlq, _ids = dead_letter_pair(sqs, unique, 40)
    client = Client.from_env()
    journal = tmp_path / "j.sqlite"

    def interrupt(event):
        raise KeyboardInterrupt

    with pytest.raises(Interrupted) as stopped:
        client.redrive(
            f"sqs:{unique}-dlq", engine="client", journal=journal, concurrency=1, on_progress=interrupt
        )
    assert isinstance(stopped.value, KeyboardInterrupt) and str(journal) in stopped.value.note
    assert journal.exists() and _not_visible(sqs, dlq) == 0, "held messages released"
    assert 0 < depth(sqs, dlq) < 40, "stopped part-way"
    resumed = client.redrive(f"sqs:{unique}-dlq", engine="client", journal=journal, resume=True)
    assert resumed.complete and resumed.possible_duplicates == []
    moved = Counter(json.loads(m["Body"])["n"] for m in drain(sqs, url, 40))
    assert moved == Counter(range(40)), "every message once"
    assert depth(sqs, dlq) == 0


def test_replay_from_envelopes_into_a_fifo_queue_sends_each_once_and_a_rerun_nothing(
    aws, sqs, unique, tmp_path
):
    url = sqs.create_queue(QueueName=f"{unique}.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    envelopes = [
        Envelope.loads(
            json.dumps({"channel": "sqs:x", "id": f"m{n}", "body": f"b{n}", "attributes": {"group_id": "g"}})
        )
        for n in range(5)
    ]
    client = Client.from_env()
    first = client.replay(envelopes, to=f"sqs:{unique}.fifo", ledger=tmp_path / "l.sqlite")
    second = client.replay(envelopes, to=f"sqs:{unique}.fifo", ledger=tmp_path / "l.sqlite")
    assert (first.sent, first.skipped, first.complete) == (5, 0, True)
    assert (second.sent, second.skipped) == (0, 5)
    bodies = [m["Body"] for m in drain(sqs, url, 5)]
    assert bodies == [f"b{n}" for n in range(5)], "in order, once"
