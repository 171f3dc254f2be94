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


def test_profile_password_file_is_redacted(invoke, broker_url, tmp_path, monkeypatch, unique) -> None:
    secret_file = tmp_path / "broker.password"
    secret_file.write_text("profile-file-password-91d2\n")
    config = tmp_path / "config.toml"
    config.write_text(
        f'[brokers.local]\nurls = ["{broker_url}"]\nuser = "ops"\npassword_file = "{secret_file}"\n'
    )
    monkeypatch.setenv("MSGCTL_CONFIG", str(config))
    result = invoke("--debug", "--broker", "local", "send", f"amq:queue/{unique}", "x")
    assert result.exit_code == 0, result.stderr[-2000:]
    assert "passcode:****" in result.stderr, "the CONNECT frame is logged, its passcode blanked"
    assert "profile-file-password-91d2" not in result.stdout + result.stderr


def test_credentials_file_secrets_are_redacted(invoke, aws, tmp_path, monkeypatch, sqs, unique) -> None:
    sqs.create_queue(QueueName=unique)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    credentials = tmp_path / "aws-credentials"
    credentials.write_text(
        "[ops]\naws_access_key_id = AKIAOPS\naws_secret_access_key = file-secret-key-4be7\n"
        "aws_session_token = file-session-token-c0a8\n"
    )
    result = invoke("--debug", "--profile", "ops", "stats", f"sqs:{unique}")
    assert result.exit_code == 0, result.stderr[-2000:]
    assert "X-Amz-Security-Token" in result.stderr, "the wire log shows the header, with its value blanked"
    for secret in ("file-secret-key-4be7", "file-session-token-c0a8"):
        assert secret not in result.stdout + result.stderr


def test_debug_traceback_is_redacted(invoke, sentinels) -> None:
    result = invoke("--debug", "--broker", f"stomp://{SENTINELS['MSGCTL_BROKER_PASSWORD']}:9", "ls", "amq")
    assert result.exit_code == 1
    assert "Traceback" in result.stderr
    _assert_clean(result.stdout, result.stderr)


def test_password_stdin_and_body_from_stdin_conflict(invoke, amq) -> None:
    result = invoke("--password-stdin", "send", "amq:queue/x", "-", input="pw\nbody")
    assert result.exit_code == 2
    assert "stdin" in result.stderr
