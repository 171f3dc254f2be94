"""Exit codes are a contract: pinned here, listed in --help, and every failure is one stderr line."""

import pytest

from msgctl.errors import ExitCode


def test_exit_codes_are_pinned() -> None:
    assert {code.name: int(code) for code in ExitCode} == {
        "OK": 0,
        "FAILED": 1,
        "USAGE": 2,
        "PARTIAL": 3,
        "NOT_FOUND": 4,
        "ACCESS_DENIED": 5,
        "INTERRUPTED": 130,
    }


def test_help_lists_every_exit_code(invoke) -> None:
    result = invoke("--help")
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    for code in ExitCode:
        assert f"{int(code)} {code.meaning}" in text


def _one_error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("msgctl: error: ")
    assert "Traceback" not in stderr
    return lines[0]


@pytest.mark.parametrize("address", ["orders", "sqs:bad name", "kafka:x", "amq:queue/"])
def test_bad_address_exits_2_with_one_line(invoke, address: str) -> None:
    result = invoke("stats", address)
    assert result.exit_code == ExitCode.USAGE
    assert "expected sqs:NAME" in _one_error_line(result.stderr)
    assert result.stdout == ""


def test_unknown_option_exits_2_with_one_line(invoke) -> None:
    result = invoke("ls", "--colour")
    assert result.exit_code == ExitCode.USAGE
    assert "--colour" in _one_error_line(result.stderr)


def test_unknown_service_exits_2(invoke) -> None:
    result = invoke("ls", "kafka")
    assert result.exit_code == ExitCode.USAGE
    _one_error_line(result.stderr)


def test_bad_msgctl_output_exits_2(invoke, monkeypatch) -> None:
    monkeypatch.setenv("MSGCTL_OUTPUT", "yaml")
    result = invoke("ls", "sqs")
    assert result.exit_code == ExitCode.USAGE
    assert "MSGCTL_OUTPUT" in _one_error_line(result.stderr)


def test_broken_config_file_exits_2(invoke, tmp_path, monkeypatch) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[brokers.x\n")
    monkeypatch.setenv("MSGCTL_CONFIG", str(config))
    result = invoke("ls", "sqs")
    assert result.exit_code == ExitCode.USAGE
    assert "not valid TOML" in _one_error_line(result.stderr)


def test_help_works_even_with_a_broken_config(invoke, tmp_path, monkeypatch) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[brokers.x\n")
    monkeypatch.setenv("MSGCTL_CONFIG", str(config))
    assert invoke("ls", "--help").exit_code == 0


def test_unreachable_broker_exits_1_with_one_line(invoke) -> None:
    result = invoke("--broker", "stomp://127.0.0.1:9", "stats", "amq:queue/x")
    assert result.exit_code == ExitCode.FAILED
    assert "cannot connect to broker stomp://127.0.0.1:9" in _one_error_line(result.stderr)


def test_unreachable_aws_endpoint_exits_1_with_one_line(invoke) -> None:
    result = invoke("--endpoint-url", "http://127.0.0.1:9", "stats", "sqs:x")
    assert result.exit_code == ExitCode.FAILED
    assert "cannot reach" in _one_error_line(result.stderr)


def test_no_broker_configured_exits_2(invoke) -> None:
    result = invoke("stats", "amq:queue/x")
    assert result.exit_code == ExitCode.USAGE
    assert "--broker" in _one_error_line(result.stderr)


class _Terminal:
    def isatty(self) -> bool:
        return True


def test_send_without_body_on_a_terminal_exits_2(invoke, monkeypatch) -> None:
    monkeypatch.setattr("sys.stdin", _Terminal())
    result = invoke("send", "sqs:x")
    assert result.exit_code == ExitCode.USAGE
    assert "no message body" in _one_error_line(result.stderr)


@pytest.mark.parametrize(
    "attr", ["novalue", "=x", "n:Number=abc", "n:Binary=%%", "n:String.Array=notjson", "n:Decimal=1"]
)
def test_bad_attribute_exits_2(invoke, attr: str) -> None:
    result = invoke("send", "sqs:x", "body", "--attr", attr)
    assert result.exit_code == ExitCode.USAGE
    assert "attribute" in _one_error_line(result.stderr)


@pytest.mark.parametrize("variable", ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SQS"])
def test_an_endpoint_url_without_a_scheme_is_a_usage_error_naming_the_variable(
    invoke, monkeypatch, variable
) -> None:
    monkeypatch.setenv(variable, "localhost:4566")
    result = invoke("ls", "sqs")
    assert result.exit_code == ExitCode.USAGE
    line = _one_error_line(result.stderr)
    assert f"{variable}='localhost:4566' is not an endpoint URL" in line and "unexpected" not in line


def test_an_endpoint_url_flag_without_a_scheme_is_a_usage_error(invoke) -> None:
    result = invoke("--endpoint-url", "127.0.0.1:4566", "stats", "sqs:x")
    assert result.exit_code == ExitCode.USAGE
    assert "--endpoint-url='127.0.0.1:4566' is not an endpoint URL" in _one_error_line(result.stderr)
