"""Fixtures: an isolated config per test, and real servers (moto server, ActiveMQ) once per session.

The servers come from the sandbox: when `msgctl sandbox up` already runs them (as .ci/run does) they are
reused, otherwise they are started here and stopped at the end. Under CI=true a missing server fails
the tests that need it instead of skipping them.
"""

from __future__ import annotations

import io
import os
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from msgctl import sandbox
from msgctl.backends.registry import register_backend
from msgctl.cli.main import run
from tests.fake_backend import FakeBackend, factory_for
from tests.helpers import boto3_client

IN_CI = os.environ.get("CI") == "true"
CLEARED_ENV = (
    "MSGCTL_BROKER",
    "MSGCTL_OUTPUT",
    "MSGCTL_CONFIG",
    "MSGCTL_BROKER_USER",
    "MSGCTL_BROKER_PASSWORD",
    "MSGCTL_READ_WORKERS",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_SQS",
    "AWS_ENDPOINT_URL_SNS",
    "AWS_SESSION_TOKEN",
    "AWS_DEFAULT_REGION",
    "NO_COLOR",
)


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str


# The server a test talks to, read from the fixtures it uses (their closure): `pytest -m "not amq"` and the
# like select by server without a marker written on each test.
SERVER_MARKERS = {
    "aws": {"aws_endpoint"},  # under aws, sqs, sns
    "amq": {"broker_url", "tls_broker"},  # under amq, stomp_conn; test_tls.py's broker
    "localstack": {"localstack_endpoint"},  # under localstack
}
ANY_AWS_MARKERS = {"moto": "aws", "localstack": "localstack"}  # aws_any picks its server per parameter


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        for marker, fixtures in SERVER_MARKERS.items():
            if used & fixtures:
                item.add_marker(marker)
        callspec = getattr(item, "callspec", None)
        if "aws_any" in used and callspec is not None:
            item.add_marker(ANY_AWS_MARKERS[callspec.params["aws_any"]])


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never read the user's config, profiles, endpoints or msgctl state (journals, ledgers)."""
    for name in CLEARED_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))  # journals, ledgers, receive records
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing-secret")
    monkeypatch.setenv("AWS_REGION", "us-east-1")


@pytest.fixture
def invoke(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Any:
    """Run msgctl in-process, the way the console script does, and capture what it printed."""

    def _invoke(*args: str, input: str | bytes | None = None) -> Result:
        if input is not None:
            data = input.encode() if isinstance(input, str) else input
            monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
        capsys.readouterr()
        code = run(list(args))
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return _invoke


@pytest.fixture
def fake_broker(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., FakeBackend]]:
    """``fake_broker("sqs")``: an in-memory backend msgctl uses for that service's channels, no server.
    AWS_ENDPOINT_URL points at a closed port, so a call that misses the fake fails instead of going out."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    undo: list[Callable[[], None]] = []

    def register(service: str, **options: Any) -> FakeBackend:
        backend = FakeBackend(service, **options)
        undo.append(register_backend(service, factory_for(backend)))
        return backend

    yield register
    for unregister in reversed(undo):
        unregister()


@pytest.fixture
def unique() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


SANDBOX_DIRECTORY = sandbox.sandbox_dir()  # read before any test points XDG_STATE_HOME at its own folder


@pytest.fixture(scope="session")
def sandbox_directory() -> Path:
    return SANDBOX_DIRECTORY


@pytest.fixture(scope="session")
def servers(sandbox_directory: Path) -> Iterator[sandbox.SandboxState]:
    directory = sandbox_directory
    before = set(sandbox.load_state(directory).servers)
    # The default ports, given: when they are taken by servers the state file does not list (another
    # session restarting one), this fails instead of starting a second sandbox on other ports.
    state = sandbox.up(directory, sandbox.DEFAULT_AWS_PORT, sandbox.DEFAULT_STOMP_PORT)
    started = set(state.servers) - before
    yield state
    if started:
        sandbox.down(directory, only=started)


def missing(what: str) -> None:
    message = f"{what} is not running and could not be started"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def aws_endpoint(servers: sandbox.SandboxState) -> str:
    if "aws" not in servers.servers:
        missing("moto server")
    return servers.servers["aws"].url


@pytest.fixture(scope="session")
def broker_url(servers: sandbox.SandboxState) -> str:
    if "amq" not in servers.servers:
        missing("ActiveMQ (Debian package activemq)")
    return servers.servers["amq"].url


@pytest.fixture(scope="session")
def localstack_endpoint() -> str:
    """LocalStack is started by .ci/localstack (as .ci/run does), not by the tests."""
    import urllib.request

    endpoint = os.environ.get("LOCALSTACK_ENDPOINT", "http://127.0.0.1:4566")
    try:
        urllib.request.urlopen(f"{endpoint}/_localstack/health", timeout=3).close()
    except OSError:
        missing(f"LocalStack at {endpoint} (start it with .ci/localstack)")
    return endpoint


@pytest.fixture
def localstack(localstack_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """msgctl's environment pointed at LocalStack; an SQS client for it."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", localstack_endpoint)
    return boto3_client("sqs", localstack_endpoint)


@pytest.fixture(params=["moto", "localstack"])
def aws_any(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Any:
    """msgctl pointed at moto server, then at LocalStack; yields boto3 clients for the same endpoint."""
    fixture = "aws_endpoint" if request.param == "moto" else "localstack_endpoint"
    endpoint = request.getfixturevalue(fixture)
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    return AwsClients(endpoint)


@dataclass
class AwsClients:
    endpoint: str

    def __call__(self, service: str) -> Any:
        return _boto3_client(service, self.endpoint)


@pytest.fixture
def aws(aws_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """msgctl's environment pointed at the moto server."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws_endpoint)
    return aws_endpoint


@pytest.fixture
def amq(broker_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """msgctl's environment pointed at the ActiveMQ broker."""
    monkeypatch.setenv("MSGCTL_BROKER", broker_url)
    return broker_url


def _boto3_client(service: str, endpoint: str) -> Any:
    return boto3_client(service, endpoint)


@pytest.fixture(scope="session")
def sqs(aws_endpoint: str) -> Any:
    return _boto3_client("sqs", aws_endpoint)


@pytest.fixture(scope="session")
def sns(aws_endpoint: str) -> Any:
    return _boto3_client("sns", aws_endpoint)


@pytest.fixture
def stomp_conn(broker_url: str) -> Iterator[Any]:
    """A plain stomp.py connection, to set up and check the broker independently of msgctl."""
    import stomp

    host, port = broker_url.removeprefix("stomp://").split(":")
    conn = stomp.Connection12([(host, int(port))], auto_decode=False)
    conn.connect(wait=True)
    yield conn
    conn.disconnect()
