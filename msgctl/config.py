"""Settings: global flags, environment and the config file, in that order of precedence.

The config file (``$XDG_CONFIG_HOME/msgctl/config.toml``, or ``MSGCTL_CONFIG``) holds AWS defaults and
named broker profiles::

    [aws]
    profile = "ops"
    region = "eu-west-1"
    payload_bucket = "ops-large-payloads"   # send/replay put bodies over a target's size limit here (S3)

    [brokers.prod]
    urls = ["stomp+ssl://b-1.example:61614", "stomp+ssl://b-2.example:61614"]
    user = "ops"
    password_file = "~/.config/msgctl/prod.password"   # or password_env = "PROD_MQ_PASSWORD"
    ca_file = "/etc/ssl/certs/amazon-mq.pem"
    verify = true

    default_broker = "prod"

    [timeouts]
    connect = 5   # seconds to open a connection (TCP, TLS, a broker's CONNECTED answer)
    read = 10     # seconds to wait for an answer (an AWS request, a broker's receipt or reply); also
                  # the STOMP heart-beat interval, so a silent broker is noticed within 1.5 x read

    [check]                      # msgctl check's thresholds (see core/health.py for the layers)
    age-warn = "5m"
    [check."sqs:orders-*"]       # by channel prefix, or by channel: [check."amq:queue/payments"]
    depth-crit = 10000
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from msgctl.errors import UsageError

OutputFormat = Literal["table", "json", "ndjson"]


@dataclass(frozen=True)
class BrokerProfile:
    name: str
    urls: tuple[str, ...]
    user: str | None = None
    password_env: str | None = None
    password_file: str | None = None
    ca_file: str | None = None
    verify: bool = True


# How long msgctl's SQS receives wait (WaitTimeSeconds): a read timeout must be above it.
LONG_POLL_S = 1


@dataclass(frozen=True)
class Timeouts:
    """Seconds; the ``[timeouts]`` table of the config file."""

    connect: float = 5.0
    read: float = 10.0


@dataclass(frozen=True)
class Config:
    path: Path | None = None
    aws_profile: str | None = None
    aws_region: str | None = None
    aws_endpoint_url: str | None = None
    payload_bucket: str | None = None  # [aws] payload_bucket: where send and replay put large bodies
    default_broker: str | None = None
    brokers: Mapping[str, BrokerProfile] = field(default_factory=dict)
    timeouts: Timeouts = field(default_factory=Timeouts)
    check: Mapping[str, Any] = field(default_factory=dict)  # the [check] table, read by check itself


@dataclass
class Settings:
    """Everything a command needs to know about where and how to talk; secrets are never printed."""

    profile: str | None = None
    region: str | None = None
    endpoint_url: str | None = None
    broker: str | None = None
    broker_user: str | None = None
    broker_password: str | None = field(default=None, repr=False)
    config: Config = field(default_factory=Config)
    ca_file: str | None = None  # --ca-file: beats a profile's ca_file
    insecure: bool = False  # --insecure: no certificate verification, whatever the profile says


SECRET_VARIABLES = (
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "MSGCTL_BROKER_PASSWORD",
)


def resolve_settings(
    profile: str | None = None,
    region: str | None = None,
    endpoint_url: str | None = None,
    broker: str | None = None,
    broker_password: str | None = None,
    ca_file: str | None = None,
    insecure: bool = False,
    environ: Mapping[str, str] = os.environ,
) -> Settings:
    """Arguments beat the environment, which beats the config file (the CLI's precedence)."""
    config = load_config(config_path(environ))
    return Settings(
        profile=profile or environ.get("AWS_PROFILE") or config.aws_profile,
        region=region or environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or config.aws_region,
        endpoint_url=endpoint_url,
        broker=broker or environ.get("MSGCTL_BROKER"),
        broker_user=environ.get("MSGCTL_BROKER_USER"),
        broker_password=broker_password or environ.get("MSGCTL_BROKER_PASSWORD"),
        config=config,
        ca_file=ca_file or environ.get("MSGCTL_CA_FILE"),
        insecure=insecure,
    )


def environment_secrets() -> list[str]:
    return [value for name in SECRET_VARIABLES if (value := os.environ.get(name))]


def config_path(environ: Mapping[str, str] = os.environ) -> Path:
    if environ.get("MSGCTL_CONFIG"):
        return Path(environ["MSGCTL_CONFIG"]).expanduser()
    base = environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "msgctl" / "config.toml"


def load_config(path: Path) -> Config:
    """Read the config file; a missing file is an empty config, a broken one a usage error."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Config(path=None)
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read config file {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"config file {path} is not valid TOML: {exc}") from None
    aws = _table(raw, "aws", path)
    brokers = _table(raw, "brokers", path)
    return Config(
        path=path,
        aws_profile=_opt_str(aws, "profile", path),
        aws_region=_opt_str(aws, "region", path),
        aws_endpoint_url=_opt_str(aws, "endpoint_url", path),
        payload_bucket=_opt_str(aws, "payload_bucket", path),
        default_broker=_opt_str(raw, "default_broker", path),
        brokers={name: _broker_profile(name, value, path) for name, value in brokers.items()},
        timeouts=_timeouts(_table(raw, "timeouts", path), path),
        check=_table(raw, "check", path),
    )


def _timeouts(raw: Mapping[str, Any], path: Path) -> Timeouts:
    unknown = sorted(set(raw) - {"connect", "read"})
    if unknown:
        raise UsageError(f"config file {path}: [timeouts] has unknown keys: {', '.join(unknown)}")
    defaults = Timeouts()
    connect = _seconds(raw, "connect", defaults.connect, 0.0, path)
    read = _seconds(raw, "read", defaults.read, LONG_POLL_S, path, " (SQS long polls wait 1 s)")
    return Timeouts(connect=connect, read=read)


def _seconds(
    raw: Mapping[str, Any], key: str, default: float, above: float, path: Path, why: str = ""
) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= above:
        raise UsageError(f"config file {path}: [timeouts] '{key}' must be more than {above:g} seconds{why}")
    return float(value)


def _broker_profile(name: str, raw: Any, path: Path) -> BrokerProfile:
    if not isinstance(raw, dict):
        raise UsageError(f"config file {path}: [brokers.{name}] must be a table")
    urls = raw.get("urls", raw.get("url"))
    if isinstance(urls, str):
        urls = [u.strip() for u in urls.split(",") if u.strip()]
    if not isinstance(urls, list) or not urls or not all(isinstance(u, str) for u in urls):
        raise UsageError(f"config file {path}: [brokers.{name}] needs 'urls', a list of stomp:// URLs")
    verify = raw.get("verify", True)
    if not isinstance(verify, bool):
        raise UsageError(f"config file {path}: [brokers.{name}] 'verify' must be true or false")
    known = {"urls", "url", "user", "password_env", "password_file", "ca_file", "verify"}
    unknown = sorted(set(raw) - known)
    if "password" in raw:
        raise UsageError(
            f"config file {path}: [brokers.{name}] holds a plain 'password'; "
            "use password_env or password_file"
        )
    if unknown:
        raise UsageError(f"config file {path}: [brokers.{name}] has unknown keys: {', '.join(unknown)}")
    section = f"brokers.{name}"
    return BrokerProfile(
        name=name,
        urls=tuple(urls),
        user=_opt_str(raw, "user", path, section),
        password_env=_opt_str(raw, "password_env", path, section),
        password_file=_opt_str(raw, "password_file", path, section),
        ca_file=_opt_str(raw, "ca_file", path, section),
        verify=verify,
    )


def _table(raw: Mapping[str, Any], key: str, path: Path) -> dict[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise UsageError(f"config file {path}: [{key}] must be a table")
    return value


def _opt_str(raw: Mapping[str, Any], key: str, path: Path, section: str | None = None) -> str | None:
    value = raw.get(key)
    if value is None or isinstance(value, str):
        return value
    where = f"[{section}] " if section else ""
    raise UsageError(f"config file {path}: {where}'{key}' must be a string")
