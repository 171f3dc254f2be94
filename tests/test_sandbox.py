"""The embedded default: lifecycle on free ports, and the seeded demo channels on the shared servers."""

import json
import os
import socket

import boto3

from msgctl import sandbox
from tests.conftest import missing


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_up_status_down_with_moto_only(invoke, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("MSGCTL_SANDBOX_DIR", str(tmp_path / "sandbox"))
    port = _free_port()
    up = invoke("sandbox", "up", "--no-activemq", "--aws-port", str(port), "--seed")
    assert up.exit_code == 0, up.stderr
    exports = dict(line.removeprefix("export ").split("=", 1) for line in up.stdout.splitlines())
    assert exports["AWS_ENDPOINT_URL"] == f"http://127.0.0.1:{port}"
    assert "MSGCTL_BROKER" not in exports

    status = json.loads(invoke("sandbox", "status", "-o", "json").stdout)
    assert [row["server"] for row in status] == ["aws"]
    pid = status[0]["pid"]
    os.kill(pid, 0)

    sqs = boto3.client("sqs", endpoint_url=exports["AWS_ENDPOINT_URL"], region_name="us-east-1")
    dlq = sqs.get_queue_url(QueueName="orders-billing-dlq")["QueueUrl"]
    depth = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])
    assert depth["Attributes"]["ApproximateNumberOfMessages"] == "2"

    again = invoke("sandbox", "up", "--no-activemq", "--aws-port", str(port))
    assert again.exit_code == 0 and again.stdout == up.stdout, "a second up keeps the running server"

    down = invoke("sandbox", "down")
    assert down.exit_code == 0
    assert "unset AWS_ENDPOINT_URL" in down.stdout
    assert not sandbox.Server("aws", pid, "", "").alive
    assert json.loads(invoke("sandbox", "status", "-o", "json").stdout) == []


def test_seeded_sandbox_has_something_for_every_command(invoke, tmp_path, monkeypatch) -> None:
    """A private sandbox (its own state directory and ports) with ActiveMQ, seeded, then stopped."""
    if sandbox.find_activemq() is None:
        missing("ActiveMQ (Debian package activemq)")
    monkeypatch.setenv("MSGCTL_SANDBOX_DIR", str(tmp_path / "sandbox"))
    up = invoke("sandbox", "up", "--seed", "--aws-port", str(_free_port()), "--stomp-port", str(_free_port()))
    try:
        assert up.exit_code == 0, up.stderr
        for line in up.stdout.splitlines():
            name, value = line.removeprefix("export ").split("=", 1)
            monkeypatch.setenv(name, value)
        rows = {row["channel"]: row for row in json.loads(invoke("ls", "-o", "json").stdout)}
    finally:
        assert invoke("sandbox", "down").exit_code == 0
    assert rows["sqs:orders-billing"]["dlq"] == "sqs:orders-billing-dlq"
    assert rows["sqs:orders-billing"]["depth"] == 3
    assert rows["sqs:orders-billing-dlq"]["depth"] == 2
    assert rows["sns:orders"]["subscriptions"] == 2
    assert rows["sqs:payments.fifo"]["depth"] == 4
    assert rows["amq:queue/Consumer.billing.VirtualTopic.orders"]["depth"] == 3
    assert rows["amq:queue/Consumer.shipping.VirtualTopic.orders"]["depth"] == 3
    assert rows["amq:queue/payments"]["dlq"] == "amq:queue/DLQ.payments"
    assert rows["amq:queue/DLQ.payments"]["depth"] == 2


def test_status_when_not_running(invoke, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("MSGCTL_SANDBOX_DIR", str(tmp_path / "none"))
    result = invoke("sandbox", "status")
    assert result.exit_code == 0
    assert "not running" in result.stderr
