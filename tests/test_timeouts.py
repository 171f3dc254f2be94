"""An endpoint that accepts connections and never answers (a paused broker or emulator), or that speaks
another protocol, ends a command with one error line naming it, within the timeouts of the config file."""

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from msgctl.errors import ExitCode

# Generous: the point is that the command ends, not how fast; the config asks for 1 s and 2 s.
BOUND_S = 30


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """127.0.0.1:PORT of a listener that accepts every connection and never sends a byte."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def accept() -> None:
        try:
            while True:
                accepted.append(listener.accept()[0])
        except OSError:  # the listener was closed: the test is over
            pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"127.0.0.1:{listener.getsockname()[1]}"
    listener.close()
    for connection in accepted:
        connection.close()
    thread.join(timeout=5)


@pytest.fixture
def short_timeouts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[timeouts]\nconnect = 1\nread = 2\n")
    monkeypatch.setenv("MSGCTL_CONFIG", str(config))


def _msgctl(*args: str, env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "msgctl", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=BOUND_S,
    )
    return result, time.monotonic() - started


def _one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.mark.slow
def test_a_broker_that_never_answers_is_one_error_line(silent_endpoint, short_timeouts) -> None:
    result, took = _msgctl("ls", "amq", env={"MSGCTL_BROKER": f"stomp://{silent_endpoint}"})
    assert result.returncode == ExitCode.FAILED
    line = _one_line(result.stderr)
    assert f"cannot connect to broker stomp://{silent_endpoint}: no STOMP answer within 1 s" in line
    assert took < BOUND_S


def test_a_broker_url_pointing_at_an_http_port_is_one_error_line(aws_endpoint) -> None:
    http = aws_endpoint.removeprefix("http://")
    result, took = _msgctl("ls", "amq", env={"MSGCTL_BROKER": f"stomp://{http}"})
    assert result.returncode == ExitCode.FAILED
    line = _one_line(result.stderr)
    assert f"cannot connect to broker stomp://{http}" in line and "STOMP" in line
    assert took < BOUND_S


@pytest.mark.slow
def test_an_aws_endpoint_that_never_answers_is_one_error_line(silent_endpoint, short_timeouts) -> None:
    result, took = _msgctl("ls", "sqs", env={"AWS_ENDPOINT_URL": f"http://{silent_endpoint}"})
    assert result.returncode == ExitCode.FAILED
    line = _one_line(result.stderr)
    assert f"http://{silent_endpoint}/ did not answer within the read timeout" in line
    assert took < BOUND_S


@pytest.mark.parametrize(
    "table", ["connect = 0", "read = 1", "read = 'long'", "connect = true", "connnect = 3"]
)
def test_bad_timeouts_in_the_config_file_exit_2(invoke, tmp_path, monkeypatch, table) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f"[timeouts]\n{table}\n")
    monkeypatch.setenv("MSGCTL_CONFIG", str(config))
    result = invoke("ls", "sqs")
    assert result.exit_code == ExitCode.USAGE
    assert "[timeouts]" in _one_line(result.stderr)
