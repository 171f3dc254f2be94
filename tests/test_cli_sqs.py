"""ls, stats and send against a real moto server; channels are made and checked with boto3."""

import json
import random
import threading

import pytest

from msgctl.errors import ExitCode
from tests.fault_proxy import FaultProxy


@pytest.fixture
def queue_with_dlq(sqs, unique):
    """A queue with 3 visible messages, 2 in flight and 1 delayed, and a DLQ holding 1 message."""
    dlq_url = sqs.create_queue(QueueName=f"{unique}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    url = sqs.create_queue(
        QueueName=unique,
        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5})},
    )["QueueUrl"]
    for n in range(5):
        sqs.send_message(QueueUrl=url, MessageBody=f"m{n}")
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=600)
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2, VisibilityTimeout=600)
    assert len(received["Messages"]) == 2
    sqs.send_message(QueueUrl=dlq_url, MessageBody="dead")
    return url, dlq_url


def _attributes(sqs, url):
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]


def test_ls_reports_the_counts_sqs_reports(invoke, aws, sqs, queue_with_dlq, unique) -> None:
    url, dlq_url = queue_with_dlq
    result = invoke("ls", "sqs", "--prefix", unique, "-o", "json")
    assert result.exit_code == 0, result.stderr
    rows = {row["channel"]: row for row in json.loads(result.stdout)}
    assert set(rows) == {f"sqs:{unique}", f"sqs:{unique}-dlq"}
    for channel, queue_url in ((f"sqs:{unique}", url), (f"sqs:{unique}-dlq", dlq_url)):
        truth = _attributes(sqs, queue_url)
        assert rows[channel]["depth"] == int(truth["ApproximateNumberOfMessages"])
        assert rows[channel]["in_flight"] == int(truth["ApproximateNumberOfMessagesNotVisible"])
        assert rows[channel]["delayed"] == int(truth["ApproximateNumberOfMessagesDelayed"])
        assert rows[channel]["kind"] == "queue"
    assert (rows[f"sqs:{unique}"]["depth"], rows[f"sqs:{unique}"]["in_flight"]) == (3, 2)
    assert rows[f"sqs:{unique}"]["delayed"] == 1
    assert rows[f"sqs:{unique}"]["dlq"] == f"sqs:{unique}-dlq"
    assert rows[f"sqs:{unique}-dlq"]["dlq"] is None


def test_ls_table_and_ndjson_show_the_same_rows(invoke, aws, queue_with_dlq, unique) -> None:
    table = invoke("ls", "sqs", "--prefix", unique)
    lines = table.stdout.strip().splitlines()
    assert lines[0].split()[:3] == ["CHANNEL", "KIND", "DEPTH"]
    assert [line.split()[0] for line in lines[1:]] == [f"sqs:{unique}", f"sqs:{unique}-dlq"]
    ndjson = invoke("-o", "ndjson", "ls", "sqs", "--prefix", unique)
    assert [json.loads(line)["channel"] for line in ndjson.stdout.splitlines()] == [
        f"sqs:{unique}",
        f"sqs:{unique}-dlq",
    ]


def test_ls_over_60_queues_lists_each_in_name_order_with_its_own_counts(
    invoke, aws, sqs, unique, monkeypatch, caplog
) -> None:
    names = [f"{unique}-{n:02d}" for n in range(60)]
    urls = {name: sqs.create_queue(QueueName=name)["QueueUrl"] for name in random.Random(7).sample(names, 60)}
    for n, name in enumerate(names):
        if n % 3:  # depths 0, 1, 2, 0, ...: a row paired with another queue's attributes shows
            entries = [{"Id": str(k), "MessageBody": "x"} for k in range(n % 3)]
            sqs.send_message_batch(QueueUrl=urls[name], Entries=entries)
    monkeypatch.setenv("MSGCTL_READ_WORKERS", "16")  # more than botocore's default of 10 connections
    result = invoke("ls", "sqs", "--prefix", unique, "-o", "json")
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [row["channel"] for row in rows] == [f"sqs:{name}" for name in names]
    assert [row["depth"] for row in rows] == [n % 3 for n in range(60)]
    assert "Connection pool is full" not in result.stderr + caplog.text
    monkeypatch.setenv("MSGCTL_READ_WORKERS", "1")
    assert invoke("ls", "sqs", "--prefix", unique, "-o", "json").stdout == result.stdout


def test_ls_skips_a_queue_deleted_between_the_listing_and_its_read(
    invoke, aws_endpoint, sqs, unique, monkeypatch
) -> None:
    urls = [sqs.create_queue(QueueName=f"{unique}-{n:02d}")["QueueUrl"] for n in range(12)]
    deleted = threading.Event()

    def delete_one_once_listed(action: str) -> None:
        if action == "ListQueues" and not deleted.is_set():
            deleted.set()
            sqs.delete_queue(QueueUrl=urls[5])

    with FaultProxy(aws_endpoint, seed=0, after=delete_one_once_listed) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        result = invoke("ls", "sqs", "--prefix", unique, "-o", "json")
    assert result.exit_code == 0, result.stderr
    listed = [row["channel"] for row in json.loads(result.stdout)]
    assert listed == [f"sqs:{unique}-{n:02d}" for n in range(12) if n != 5]
    assert proxy.calls["GetQueueAttributes"] == 12, "the deleted queue was read too, and left out"


def test_stats_reports_the_queue_in_detail(invoke, aws, sqs, queue_with_dlq, unique) -> None:
    url, _ = queue_with_dlq
    result = invoke("stats", f"sqs:{unique}", "-o", "json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    truth = _attributes(sqs, url)
    assert doc["depth"] == int(truth["ApproximateNumberOfMessages"]) == 3
    assert doc["in_flight"] == 2
    assert doc["dlq"] == f"sqs:{unique}-dlq"
    assert doc["url"] == url
    assert doc["attributes"]["QueueArn"] == truth["QueueArn"]
    assert doc["oldest_age_s"] is None, "no CloudWatch datapoint yet"


def test_stats_reads_the_oldest_age_from_cloudwatch(invoke, aws, aws_endpoint, sqs, unique) -> None:
    import boto3

    sqs.create_queue(QueueName=unique)
    cloudwatch = boto3.client("cloudwatch", endpoint_url=aws_endpoint, region_name="us-east-1")
    cloudwatch.put_metric_data(
        Namespace="AWS/SQS",
        MetricData=[
            {
                "MetricName": "ApproximateAgeOfOldestMessage",
                "Dimensions": [{"Name": "QueueName", "Value": unique}],
                "Value": 812.0,
                "Unit": "Seconds",
            }
        ],
    )
    result = invoke("stats", f"sqs:{unique}", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["oldest_age_s"] == 812.0


@pytest.mark.parametrize("form", ["url", "arn"])
def test_stats_accepts_url_and_arn(invoke, aws, sqs, queue_with_dlq, unique, form) -> None:
    url, _ = queue_with_dlq
    address = url if form == "url" else _attributes(sqs, url)["QueueArn"]
    result = invoke("stats", address, "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["channel"] == f"sqs:{unique}"


def test_missing_queue_exits_4_with_one_line(invoke, aws, unique) -> None:
    result = invoke("stats", f"sqs:{unique}")
    assert result.exit_code == ExitCode.NOT_FOUND
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "NonExistentQueue" in lines[0] and "Traceback" not in result.stderr


def test_send_keeps_body_and_every_attribute_type(invoke, aws, sqs, unique) -> None:
    url = sqs.create_queue(QueueName=unique)["QueueUrl"]
    result = invoke(
        "send",
        f"sqs:{unique}",
        '{"order": 7}',
        "--attr",
        "kind=order",
        "--attr",
        "amount:Number=301.50",
        "--attr",
        "blob:Binary=AP8Q",
        "--attr",
        "unit:Number.euros=3",
        "-o",
        "json",
    )
    assert result.exit_code == 0, result.stderr
    sent = json.loads(result.stdout)
    messages = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"], MaxNumberOfMessages=10)[
        "Messages"
    ]
    assert len(messages) == 1
    message = messages[0]
    assert message["MessageId"] == sent["id"]
    assert message["Body"] == '{"order": 7}'
    attrs = message["MessageAttributes"]
    assert attrs["kind"] == {"DataType": "String", "StringValue": "order"}
    assert attrs["amount"] == {"DataType": "Number", "StringValue": "301.50"}
    assert attrs["blob"] == {"DataType": "Binary", "BinaryValue": b"\x00\xff\x10"}
    assert attrs["unit"] == {"DataType": "Number.euros", "StringValue": "3"}


def test_send_reads_the_body_from_stdin(invoke, aws, sqs, unique) -> None:
    url = sqs.create_queue(QueueName=unique)["QueueUrl"]
    assert invoke("send", f"sqs:{unique}", "-", input="from stdin\n").exit_code == 0
    assert sqs.receive_message(QueueUrl=url)["Messages"][0]["Body"] == "from stdin\n"


def test_fifo_send_carries_group_and_dedup_ids(invoke, aws, sqs, unique) -> None:
    url = sqs.create_queue(QueueName=f"{unique}.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    result = invoke("send", f"sqs:{unique}.fifo", "pay", "--group-id", "g1", "--dedup-id", "d1", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["sequence_number"]
    again = invoke("send", f"sqs:{unique}.fifo", "pay", "--group-id", "g1", "--dedup-id", "d1")
    assert again.exit_code == 0
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"])["Messages"]
    assert len(messages) == 1, "the second send is deduplicated by SQS"
    assert messages[0]["Attributes"]["MessageGroupId"] == "g1"
    assert messages[0]["Attributes"]["MessageDeduplicationId"] == "d1"


def test_fifo_send_without_group_is_refused_before_sending(invoke, aws, sqs, unique) -> None:
    url = sqs.create_queue(QueueName=f"{unique}.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    result = invoke("send", f"sqs:{unique}.fifo", "pay")
    assert result.exit_code == ExitCode.USAGE
    assert "--group-id" in result.stderr
    assert _attributes(sqs, url)["ApproximateNumberOfMessages"] == "0"


def test_string_array_is_refused_for_sqs_and_nothing_is_sent(invoke, aws, sqs, unique) -> None:
    url = sqs.create_queue(QueueName=unique)["QueueUrl"]
    result = invoke("send", f"sqs:{unique}", "x", "--attr", 'tags:String.Array=["a"]')
    assert result.exit_code == ExitCode.USAGE
    assert _attributes(sqs, url)["ApproximateNumberOfMessages"] == "0"


def test_send_to_missing_queue_exits_4(invoke, aws, unique) -> None:
    result = invoke("send", f"sqs:{unique}", "x")
    assert result.exit_code == ExitCode.NOT_FOUND


def test_region_precedence_flag_beats_env_beats_config(
    invoke, aws, aws_endpoint, unique, tmp_path, monkeypatch
):
    import boto3

    boto3.client(
        "sqs",
        endpoint_url=aws_endpoint,
        region_name="eu-west-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing-secret",
    ).create_queue(QueueName=unique)
    config = tmp_path / "config.toml"
    config.write_text('[aws]\nregion = "eu-west-1"\n')
    monkeypatch.setenv("MSGCTL_CONFIG", str(config))
    monkeypatch.delenv("AWS_REGION")
    assert invoke("stats", f"sqs:{unique}").exit_code == 0, "config region used"
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    assert invoke("stats", f"sqs:{unique}").exit_code == ExitCode.NOT_FOUND, "env beats config"
    assert invoke("--region", "eu-west-1", "stats", f"sqs:{unique}").exit_code == 0, "flag beats env"


def test_service_specific_endpoint_variable_reaches_boto3(invoke, aws_endpoint, sqs, unique, monkeypatch):
    sqs.create_queue(QueueName=unique)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", aws_endpoint)
    assert invoke("stats", f"sqs:{unique}").exit_code == 0
