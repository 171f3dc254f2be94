"""Secrets never reach stdout, stderr or --debug wire logs, even where a library logs them."""

import json

import pytest

SENTINELS = {
    "AWS_SECRET_ACCESS_KEY": "sentinel-aws-secret-8d1f",
    "AWS_SESSION_TOKEN": "sentinel-session-token-77ab",
    "MSGCTL_BROKER_PASSWORD": "sentinel-broker-pw-31c9",
}


@pytest.fixture
def sentinels(monkeypatch):
    for name, value in SENTINELS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MSGCTL_BROKER_USER", "someone")


def _assert_clean(*texts: str) -> None:
    for text in texts:
        for value in SENTINELS.values():
            assert value not in text


def test_debug_wire_logs_of_aws_and_stomp_are_redacted(invoke, aws, amq, sentinels, sqs, unique) -> None:
    sqs.create_queue(QueueName=unique)
    result = invoke("--debug", "ls", "--prefix", unique, "-o", "json")
    assert result.exit_code == 0, result.stderr[-2000:]
    assert "DEBUG" in result.stderr and "****" in result.stderr, "the wire log is there, with secrets blanked"
    assert f"sqs:{unique}" in {row["channel"] for row in json.loads(result.stdout)}
    _assert_clean(result.stdout, result.stderr)


def test_password_from_stdin_is_redacted_in_debug_logs(invoke, amq, monkeypatch, unique) -> None:
    monkeypatch.setenv("MSGCTL_BROKER_USER", "someone")
    result = invoke(
        "--debug", "--password-stdin", "send", f"amq:queue/{unique}", "x", input="stdin-password-5e0f\n"
    )
    assert result.exit_code == 0, result.stderr[-2000:]
    assert "stdin-password-5e0f" not in result.stdout + result.stderr
    assert "****" in result.stderr


def test_error_messages_are_redacted(invoke, sentinels) -> None:
    result = invoke("--debug", "--broker", "stomp://127.0.0.1:9", "stats", "amq:queue/x")
    assert result.exit_code == 1
    _assert_clean(result.stdout, result.stderr)


def test_password_stdin_and_body_from_stdin_conflict(invoke, amq) -> None:
    result = invoke("--password-stdin", "send", "amq:queue/x", "-", input="pw\nbody")
    assert result.exit_code == 2
    assert "stdin" in result.stderr
