"""Bad input at the command line, generated: never a traceback, exit 2 with one line, nothing sent."""

import contextlib
import json
import tomllib

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from msgctl.address import parse_channel
from msgctl.config import load_config
from msgctl.envelope import Envelope
from msgctl.errors import ExitCode, UsageError
from msgctl.filter.lint import parse_policy
from tests.helpers import depth

FIXTURES_OK = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def assert_one_line_usage_error(result) -> None:
    assert result.exit_code == ExitCode.USAGE, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("msgctl: error: "), result.stderr
    assert "Traceback" not in result.stderr and not lines[0].startswith("msgctl: error: unexpected ")


def _refused(parse, *args) -> bool:
    try:
        parse(*args)
    except UsageError:
        return True
    return False


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=60))
def test_a_bad_channel_address_is_one_line_exit_2(invoke, text):
    assume(text.strip() and not text.startswith("-") and _refused(parse_channel, text))
    assert_one_line_usage_error(invoke("stats", text))


@pytest.mark.slow
@FIXTURES_OK
@given(st.lists(json_values | st.text(max_size=30), min_size=1, max_size=3), st.integers(0, 5))
def test_a_bad_envelope_line_stops_replay_before_anything_is_sent(invoke, aws, sqs, bad, position):
    def refused(value) -> bool:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                return value.strip() != ""  # a blank line is skipped, not bad
        return _refused(Envelope.from_json, value)

    assume(refused(bad[0]))
    url = sqs.create_queue(QueueName="bad-input-replay")["QueueUrl"]
    good = [json.dumps({"channel": "sqs:x", "id": f"m{n}", "body": f"b{n}"}) for n in range(5)]
    first_bad = bad[0] if isinstance(bad[0], str) else json.dumps(bad[0])
    lines = [*good[:position], first_bad.replace("\n", " "), *good[position:]]
    result = invoke(
        "replay", "-", "--to", "sqs:bad-input-replay", "--ledger", "/dev/null/x", input="\n".join(lines)
    )
    assert_one_line_usage_error(result)
    assert f"line {min(position, 5) + 1}" in result.stderr
    assert depth(sqs, url) == 0, "nothing was sent"


@pytest.mark.slow
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(json_values | st.text(max_size=40))
def test_a_bad_filter_policy_is_refused_by_lint_and_test_alike(invoke, policy):
    text = policy if isinstance(policy, str) else json.dumps(policy)
    assume(text.strip() and not text.startswith(("-", "@")) and _refused(parse_policy, text, "attributes"))
    assert_one_line_usage_error(invoke("filter", "lint", text))
    assert_one_line_usage_error(invoke("filter", "test", text, "--message", "{}"))


config_values = st.one_of(
    st.text(max_size=10),
    st.integers(),
    st.booleans(),
    st.lists(st.sampled_from(["stomp://127.0.0.1:1", "http://x", "", "stomp://", "stomp+ssl://127.0.0.1:1"])),
    st.sampled_from(["stomp://127.0.0.1:1", "not a url", "stomp://127.0.0.1:99999"]),
)
broker_profiles = st.dictionaries(
    st.sampled_from(["urls", "url", "user", "password_env", "password_file", "ca_file", "verify", "nope"]),
    config_values,
    max_size=4,
)


@st.composite
def config_files(draw):
    if draw(st.booleans()):
        return draw(st.text(max_size=60))
    document = {
        "aws": draw(
            st.dictionaries(st.sampled_from(["profile", "region", "endpoint_url", "x"]), config_values)
        ),
        "brokers": draw(
            st.dictionaries(st.sampled_from(["a", "b"]), broker_profiles | config_values, max_size=2)
        ),
        "default_broker": draw(st.sampled_from(["a", "b", 3, True])),
    }
    return "\n".join(_toml(document))


def _toml(document, prefix=""):
    scalars = {k: v for k, v in document.items() if not isinstance(v, dict)}
    tables = {k: v for k, v in document.items() if isinstance(v, dict)}
    lines = [f"{key} = {json.dumps(value)}" for key, value in scalars.items()]
    for key, value in tables.items():
        lines += [f"[{prefix}{key}]", *_toml(value, f"{prefix}{key}.")]
    return lines


@FIXTURES_OK
@given(config_files())
def test_a_bad_config_file_is_one_line_exit_2(invoke, tmp_path_factory, monkeypatch, text):
    path = tmp_path_factory.mktemp("config") / "config.toml"
    path.write_text(text)
    with contextlib.suppress(tomllib.TOMLDecodeError, UnicodeError):
        tomllib.loads(text)
    assume(_refused(load_config, path))
    monkeypatch.setenv("MSGCTL_CONFIG", str(path))
    assert_one_line_usage_error(invoke("ls", "amq"))


@pytest.mark.parametrize("option", ["--max", "--concurrency", "--rate"])
def test_out_of_range_numbers_are_usage_errors(invoke, option):
    result = invoke("replay", "-", "--to", "sqs:x", option, "0")
    assert_one_line_usage_error(result)
