"""The embedded default: lifecycle on free ports, and the seeded demo channels on the shared servers."""

import json
import os
import socket

import boto3
import pytest

from msgctl import sandbox
from tests.conftest import missing


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
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


@pytest.mark.slow
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


def _listener() -> socket.socket:
    """A plain listener on a free port: 'another broker' holding the port the sandbox wants."""
    return socket.create_server(("127.0.0.1", 0))


def _exports(stdout: str) -> dict[str, str]:
    return dict(line.removeprefix("export ").split("=", 1) for line in stdout.splitlines())


@pytest.mark.slow
def test_a_taken_stomp_port_given_stops_what_up_started_and_suggests_another(
    invoke, tmp_path, monkeypatch
) -> None:
    if sandbox.find_activemq() is None:
        missing("ActiveMQ (Debian package activemq)")
    directory = tmp_path / "sandbox"
    monkeypatch.setenv("MSGCTL_SANDBOX_DIR", str(directory))
    aws_port = _free_port()
    with _listener() as taken:
        stomp_port = taken.getsockname()[1]
        try:
            result = invoke("sandbox", "up", "--aws-port", str(aws_port), "--stomp-port", str(stomp_port))
        finally:
            leftovers = sandbox.load_state(directory).servers
            sandbox.down(directory)  # only this test's private sandbox
    assert result.exit_code == 1
    assert f"127.0.0.1:{stomp_port}" in result.stderr and "pass --stomp-port" in result.stderr
    assert leftovers == {}, "the moto server this up started was stopped again"
    assert not sandbox._port_taken(aws_port)


@pytest.mark.slow
def test_taken_default_ports_move_to_the_next_free_ones(invoke, tmp_path, monkeypatch) -> None:
    if sandbox.find_activemq() is None:
        missing("ActiveMQ (Debian package activemq)")
    directory = tmp_path / "sandbox"
    monkeypatch.setenv("MSGCTL_SANDBOX_DIR", str(directory))
    with _listener() as aws_taken, _listener() as stomp_taken:
        # Private stand-ins for 4577 and 61613, so the shared sandbox on the real defaults is left alone.
        monkeypatch.setattr(sandbox, "DEFAULT_AWS_PORT", aws_taken.getsockname()[1])
        monkeypatch.setattr(sandbox, "DEFAULT_STOMP_PORT", stomp_taken.getsockname()[1])
        try:
            result = invoke("sandbox", "up")
            exports = _exports(result.stdout) if result.exit_code == 0 else {}
            for name, value in exports.items():
                monkeypatch.setenv(name, value)
            listed = invoke("ls", "-o", "json")  # the exported endpoints are the servers started
        finally:
            sandbox.down(directory)
    assert result.exit_code == 0, result.stderr
    aws_port = int(exports["AWS_ENDPOINT_URL"].rsplit(":", 1)[1])
    stomp_port = int(exports["MSGCTL_BROKER"].rsplit(":", 1)[1])
    assert aws_port > sandbox.DEFAULT_AWS_PORT and stomp_port > sandbox.DEFAULT_STOMP_PORT
    assert listed.exit_code == 0, listed.stderr
