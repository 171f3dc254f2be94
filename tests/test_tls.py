"""stomp+ssl against the sandbox broker's TLS connector (a keytool-made certificate for 127.0.0.1)."""

import shutil
import subprocess

import pytest

from msgctl.errors import ExitCode
from tests.conftest import missing
from tests.helpers import consume_all


@pytest.fixture(scope="session")
def tls_broker(servers):
    amq = servers.servers.get("amq")
    if amq is None or not amq.tls_url:
        missing("ActiveMQ's stomp+ssl connector (needs keytool)")
    return amq.tls_url, amq.ca_file


@pytest.fixture(scope="session")
def other_ca(tmp_path_factory):
    """A certificate authority the broker's certificate does not come from."""
    directory = tmp_path_factory.mktemp("other-ca")
    keytool = shutil.which("keytool")
    assert keytool, "keytool comes with the JDK ActiveMQ runs on"
    common = ["-keystore", str(directory / "other.p12"), "-storepass", "other-pass", "-storetype", "PKCS12"]
    subprocess.run(
        [keytool, "-genkeypair", "-alias", "other", "-keyalg", "RSA", "-dname", "CN=someone else", *common],
        check=True,
        capture_output=True,
    )
    pem = directory / "other-ca.pem"
    subprocess.run(
        [keytool, "-exportcert", "-rfc", "-alias", "other", "-file", str(pem), *common],
        check=True,
        capture_output=True,
    )
    return str(pem)


def one_line_error(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("msgctl: error: "), result.stderr
    return lines[0]


def test_the_trusted_ca_connects_and_the_message_arrives(invoke, tls_broker, stomp_conn, unique):
    url, ca_file = tls_broker
    result = invoke("--broker", url, "--ca-file", ca_file, "send", f"amq:queue/{unique}", "over tls")
    assert result.exit_code == 0, result.stderr
    assert "warning" not in result.stderr
    assert [frame.body for frame in consume_all(stomp_conn, unique, 1)] == [b"over tls"]


def test_a_wrong_ca_fails_clearly_and_sends_nothing(invoke, tls_broker, other_ca, amq, unique):
    url, _ = tls_broker
    result = invoke("--broker", url, "--ca-file", other_ca, "send", f"amq:queue/{unique}", "x")
    assert result.exit_code == ExitCode.FAILED
    line = one_line_error(result)
    assert "is not trusted" in line and "--ca-file" in line
    assert invoke("-o", "json", "stats", f"amq:queue/{unique}").exit_code == ExitCode.NOT_FOUND


def test_certificates_are_verified_by_default(invoke, tls_broker, unique):
    url, _ = tls_broker
    result = invoke("--broker", url, "send", f"amq:queue/{unique}", "x")
    assert result.exit_code == ExitCode.FAILED
    assert "is not trusted (self-signed certificate)" in one_line_error(result)


def test_insecure_connects_with_a_warning(invoke, tls_broker, stomp_conn, unique):
    url, _ = tls_broker
    result = invoke("--broker", url, "--insecure", "send", f"amq:queue/{unique}", "unverified")
    assert result.exit_code == 0, result.stderr
    assert "msgctl: warning: TLS certificates of" in result.stderr and "not verified" in result.stderr
    assert [frame.body for frame in consume_all(stomp_conn, unique, 1)] == [b"unverified"]


def test_a_profile_names_its_ca_file(invoke, tls_broker, stomp_conn, tmp_path, monkeypatch, unique):
    url, ca_file = tls_broker
    config = tmp_path / "config.toml"
    config.write_text(f'[brokers.secure]\nurls = ["{url}"]\nca_file = "{ca_file}"\n')
    monkeypatch.setenv("MSGCTL_CONFIG", str(config))
    result = invoke("--broker", "secure", "send", f"amq:queue/{unique}", "profile")
    assert result.exit_code == 0, result.stderr
    assert [frame.body for frame in consume_all(stomp_conn, unique, 1)] == [b"profile"]


def test_a_missing_ca_file_is_a_usage_error(invoke, tls_broker, tmp_path, unique):
    url, _ = tls_broker
    result = invoke(
        "--broker", url, "--ca-file", str(tmp_path / "nope.pem"), "send", f"amq:queue/{unique}", "x"
    )
    assert result.exit_code == ExitCode.USAGE and "no such file" in one_line_error(result)
