from pathlib import Path

import pytest

from msgctl.broker import BrokerEndpoint, parse_broker_urls, resolve_broker
from msgctl.config import Settings, config_path, load_config
from msgctl.errors import UsageError

CONFIG = """
default_broker = "prod"

[aws]
region = "eu-west-1"

[brokers.prod]
urls = ["stomp+ssl://b-1.example:61614", "stomp+ssl://b-2.example:61614"]
user = "ops"
password_file = "{password_file}"
ca_file = "/etc/ssl/mq.pem"

[brokers.dev]
url = "stomp://127.0.0.1:61613"
password_env = "DEV_MQ_PASSWORD"
verify = false
"""


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    password_file = tmp_path / "prod.password"
    password_file.write_text("s3cret-from-file\n")
    path = tmp_path / "config.toml"
    path.write_text(CONFIG.format(password_file=password_file))
    return path


def test_config_path_follows_xdg_and_msgctl_config(tmp_path: Path) -> None:
    assert config_path({"XDG_CONFIG_HOME": str(tmp_path)}) == tmp_path / "msgctl" / "config.toml"
    assert config_path({"MSGCTL_CONFIG": "/x/y.toml", "XDG_CONFIG_HOME": "/z"}) == Path("/x/y.toml")


def test_missing_config_is_empty(tmp_path: Path) -> None:
    assert load_config(tmp_path / "absent.toml").brokers == {}


def test_profiles_are_read(config_file: Path) -> None:
    config = load_config(config_file)
    assert config.aws_region == "eu-west-1"
    assert config.default_broker == "prod"
    assert config.brokers["prod"].urls == ("stomp+ssl://b-1.example:61614", "stomp+ssl://b-2.example:61614")
    assert config.brokers["dev"].verify is False


def test_profile_password_comes_from_its_file(config_file: Path) -> None:
    target = resolve_broker(Settings(config=load_config(config_file)))
    assert target.endpoints == (
        BrokerEndpoint("b-1.example", 61614, True),
        BrokerEndpoint("b-2.example", 61614, True),
    )
    assert (target.user, target.password, target.ca_file) == ("ops", "s3cret-from-file", "/etc/ssl/mq.pem")
    assert "s3cret" not in repr(target)


def test_environment_password_beats_the_profile(config_file: Path) -> None:
    settings = Settings(config=load_config(config_file), broker_password="from-env", broker_user="envuser")
    target = resolve_broker(settings)
    assert (target.user, target.password) == ("envuser", "from-env")


def test_password_env_must_be_set(config_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(config=load_config(config_file), broker="dev")
    with pytest.raises(UsageError, match="DEV_MQ_PASSWORD"):
        resolve_broker(settings)
    monkeypatch.setenv("DEV_MQ_PASSWORD", "pw")
    assert resolve_broker(settings).password == "pw"


def test_broker_flag_beats_default_profile(config_file: Path) -> None:
    settings = Settings(config=load_config(config_file), broker="stomp://localhost:1234,stomp://other")
    assert [str(e) for e in resolve_broker(settings).endpoints] == [
        "stomp://localhost:1234",
        "stomp://other:61613",
    ]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("default_broker = [", "not valid TOML"),
        ("[brokers.x]\nurls = []", "needs 'urls'"),
        ("[brokers.x]\nurls = ['stomp://h']\npassword = 'pw'", "plain 'password'"),
        ("[brokers.x]\nurls = ['stomp://h']\ncolour = 'red'", "unknown keys"),
        ("[brokers.x]\nurls = ['stomp://h']\nverify = 'yes'", "'verify'"),
        ("aws = 3", "must be a table"),
        ("[aws]\nregion = 5", "'region' must be a string"),
    ],
)
def test_broken_config_is_a_usage_error(tmp_path: Path, text: str, reason: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(UsageError, match=reason):
        load_config(path)


@pytest.mark.parametrize(
    "spec",
    ["amqp://host:5672", "stomp://user:pw@host:61613", "stomp://host:notaport", "stomp://", "nonsense"],
)
def test_bad_broker_specs_are_usage_errors(spec: str) -> None:
    with pytest.raises(UsageError):
        resolve_broker(Settings(broker=spec))


def test_credentials_in_a_broker_url_are_refused_without_echoing_them() -> None:
    with pytest.raises(UsageError) as info:
        parse_broker_urls("stomp://user:hunter2@host")
    assert "MSGCTL_BROKER_PASSWORD" in info.value.message
    assert "hunter2" not in info.value.message


def test_no_broker_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="--broker"):
        resolve_broker(Settings())


def test_a_named_profile_keeps_its_own_credentials(config_file: Path) -> None:
    settings = Settings(
        config=load_config(config_file),
        broker="stomp://default:61613",
        broker_user="env-user",
        broker_password="env-password",
    )
    assert resolve_broker(settings).password == "env-password", "the default broker takes the environment's"
    named = resolve_broker(settings, "prod")
    assert (named.user, named.password) == ("ops", "s3cret-from-file"), "never the default broker's password"
