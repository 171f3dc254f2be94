"""ls, stats and send rendered as table, JSON and NDJSON, against the in-memory fake broker: no server."""

import json
from textwrap import dedent

import pytest

from msgctl.envelope import MessageAttribute
from msgctl.errors import ExitCode


@pytest.fixture
def queues(fake_broker):
    sqs = fake_broker("sqs")
    sqs.add("orders", in_flight=2, delayed=1, dlq="sqs:orders-dlq", oldest_age_s=12.5)
    sqs.add("orders-dlq")
    sqs.add("payments")
    return sqs


def test_ls_renders_a_table_of_every_service_with_dashes_for_what_a_kind_lacks(invoke, queues, fake_broker):
    fake_broker("sns").add("events", kind="topic", in_flight=None, delayed=None, subscriptions=3)
    result = invoke("ls")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == dedent("""\
        CHANNEL         KIND   DEPTH  IN_FLIGHT  DELAYED  DLQ             SUBSCRIPTIONS
        sqs:orders      queue  0      2          1        sqs:orders-dlq  -
        sqs:orders-dlq  queue  0      0          0        -               -
        sqs:payments    queue  0      0          0        -               -
        sns:events      topic  0      -          -        -               3
        """)
    assert result.stderr == ""


def test_ls_json_is_one_array_and_ndjson_one_object_a_line(invoke, queues):
    rows = [
        {"channel": "sqs:orders", "kind": "queue", "depth": 0, "in_flight": 2, "delayed": 1,
         "dlq": "sqs:orders-dlq", "subscriptions": None},
        {"channel": "sqs:orders-dlq", "kind": "queue", "depth": 0, "in_flight": 0, "delayed": 0,
         "dlq": None, "subscriptions": None},
    ]  # fmt: skip
    as_json = invoke("ls", "sqs", "--prefix", "orders", "-o", "json")
    assert as_json.exit_code == 0, as_json.stderr
    assert as_json.stdout == json.dumps(rows, indent=2) + "\n"
    as_ndjson = invoke("ls", "sqs", "--prefix", "orders", "-o", "ndjson")
    assert as_ndjson.exit_code == 0, as_ndjson.stderr
    assert as_ndjson.stdout == (
        '{"channel":"sqs:orders","kind":"queue","depth":0,"in_flight":2,"delayed":1,'
        '"dlq":"sqs:orders-dlq","subscriptions":null}\n'
        '{"channel":"sqs:orders-dlq","kind":"queue","depth":0,"in_flight":0,"delayed":0,'
        '"dlq":null,"subscriptions":null}\n'
    )


def test_an_empty_listing_is_a_header_an_empty_array_or_nothing(invoke, queues):
    assert invoke("ls", "sqs", "--prefix", "none").stdout == (
        "CHANNEL  KIND  DEPTH  IN_FLIGHT  DELAYED  DLQ  SUBSCRIPTIONS\n"
    )
    assert invoke("ls", "sqs", "--prefix", "none", "-o", "json").stdout == "[]\n"
    assert invoke("ls", "sqs", "--prefix", "none", "-o", "ndjson").stdout == ""


def test_stats_table_flattens_the_details_the_backend_reports(invoke, queues):
    result = invoke("stats", "sqs:orders")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == dedent("""\
        FIELD                         VALUE
        channel                       sqs:orders
        kind                          queue
        depth                         0
        in_flight                     2
        delayed                       1
        dlq                           sqs:orders-dlq
        subscriptions                 -
        oldest_age_s                  12.5
        fifo                          no
        attributes.VisibilityTimeout  30
        """)


def test_stats_json_and_ndjson_are_the_same_document(invoke, queues):
    document = {
        "channel": "sqs:orders", "kind": "queue", "depth": 0, "in_flight": 2, "delayed": 1,
        "dlq": "sqs:orders-dlq", "subscriptions": None, "oldest_age_s": 12.5, "fifo": False,
        "attributes": {"VisibilityTimeout": "30"},
    }  # fmt: skip
    as_json = invoke("stats", "sqs:orders", "-o", "json")
    assert as_json.stdout == json.dumps(document, indent=2) + "\n"
    as_ndjson = invoke("stats", "sqs:orders", "-o", "ndjson")
    assert as_ndjson.stdout == json.dumps(document, separators=(",", ":")) + "\n"


def test_stats_of_a_missing_channel_is_one_line_exit_4(invoke, queues):
    result = invoke("stats", "sqs:nope")
    assert (result.exit_code, result.stdout) == (ExitCode.NOT_FOUND, "")
    assert result.stderr == "msgctl: error: sqs:nope does not exist\n"


def test_send_renders_the_receipt_and_the_backend_gets_the_message(invoke, queues):
    result = invoke("send", "sqs:orders", '{"id": 1}', "--attr", "kind=order", "--attr", "n:Number=7")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == dedent("""\
        FIELD            VALUE
        channel          sqs:orders
        id               fake-1
        sequence_number  -
        """)
    (message,) = queues.channels["orders"].messages
    assert message.body == b'{"id": 1}'
    assert message.message_attributes == {
        "kind": MessageAttribute("String", "order"),
        "n": MessageAttribute("Number", "7"),
    }
    assert json.loads(invoke("stats", "sqs:orders", "-o", "json").stdout)["depth"] == 1


def test_send_json_and_ndjson_with_a_group_and_a_body_from_stdin(invoke, queues):
    queues.add("jobs.fifo")
    as_json = invoke("send", "sqs:jobs.fifo", "-", "--group-id", "g1", "-o", "json", input="from stdin")
    assert as_json.exit_code == 0, as_json.stderr
    assert as_json.stdout == dedent("""\
        {
          "channel": "sqs:jobs.fifo",
          "id": "fake-1",
          "sequence_number": "1"
        }
        """)
    as_ndjson = invoke(
        "send", "sqs:jobs.fifo", "again", "--group-id", "g1", "--dedup-id", "d2", "-o", "ndjson"
    )
    assert as_ndjson.stdout == '{"channel":"sqs:jobs.fifo","id":"fake-2","sequence_number":"2"}\n'
    first, second = queues.channels["jobs.fifo"].messages
    assert (first.body, first.group_id, first.dedup_id) == (b"from stdin", "g1", None)
    assert (second.body, second.group_id, second.dedup_id) == (b"again", "g1", "d2")


def test_a_fifo_send_without_a_group_is_refused_before_the_backend_sees_it(invoke, queues):
    queues.add("jobs.fifo")
    result = invoke("send", "sqs:jobs.fifo", "x")
    assert (result.exit_code, result.stdout) == (ExitCode.USAGE, "")
    assert result.stderr == "msgctl: error: sqs:jobs.fifo is FIFO: pass --group-id\n"
    assert queues.sent == 0


def test_each_run_closes_the_backend_it_opened(invoke, queues):
    invoke("ls", "sqs")
    invoke("stats", "sqs:orders")
    assert queues.closed == 2


def test_the_config_files_payload_bucket_is_for_aws_and_a_payload_flag_on_activemq_is_refused(
    invoke, fake_broker, tmp_path, monkeypatch
):
    config = tmp_path / "config.toml"
    config.write_text('[aws]\npayload_bucket = "big-bodies"\n')
    monkeypatch.setenv("MSGCTL_CONFIG", str(config))
    monkeypatch.setenv("MSGCTL_BROKER", "stomp://127.0.0.1:1")
    broker = fake_broker("amq")
    broker.add("orders")
    sent = invoke("send", "amq:queue/orders", "x" * 300_000)
    assert sent.exit_code == 0, sent.stderr  # ActiveMQ takes a large body: the config's bucket is not used
    assert len(broker.channels["orders"].messages) == 1
    refused = invoke("send", "amq:queue/orders", "x", "--payload-bucket", "big-bodies")
    assert refused.exit_code == ExitCode.USAGE and "S3 payloads are for SQS and SNS" in refused.stderr
