"""Which ActiveMQ broker to talk to, and with which credentials.

``--broker`` (or MSGCTL_BROKER, or the config's ``default_broker``) is a ``stomp://`` or ``stomp+ssl://``
URL, a comma-separated failover list of them, a profile name from the config file, or ``mq:NAME_OR_ID``
for an Amazon MQ broker whose endpoints are looked up with the Amazon MQ API.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from msgctl.config import BrokerProfile, Settings, Timeouts
from msgctl.errors import UsageError

DEFAULT_PORTS = {"stomp": 61613, "stomp+ssl": 61614}


@dataclass(frozen=True)
class BrokerEndpoint:
    host: str
    port: int
    ssl: bool

    def __str__(self) -> str:
        return f"{'stomp+ssl' if self.ssl else 'stomp'}://{self.host}:{self.port}"


@dataclass(frozen=True)
class BrokerTarget:
    endpoints: tuple[BrokerEndpoint, ...]
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: str | None = None
    verify: bool = True
    timeouts: Timeouts = field(default_factory=Timeouts)

    @property
    def label(self) -> str:
        return ",".join(str(e) for e in self.endpoints)


def parse_broker_urls(text: str) -> tuple[BrokerEndpoint, ...]:
    urls = [u.strip() for u in text.split(",") if u.strip()]
    if not urls:
        raise UsageError("empty broker URL list")
    return tuple(_parse_broker_url(u) for u in urls)


def _parse_broker_url(url: str) -> BrokerEndpoint:
    # Amazon MQ lists failover URIs as failover:(ssl://a:61617,ssl://b:61617); msgctl speaks STOMP only.
    parts = urlsplit(url)
    has_credentials = "@" in parts.netloc
    shown = f"{parts.scheme}://****@{parts.netloc.rsplit('@', 1)[-1]}" if has_credentials else url
    if has_credentials:
        raise UsageError(
            f"bad broker URL {shown!r}: credentials do not belong in the URL; "
            "use MSGCTL_BROKER_USER/MSGCTL_BROKER_PASSWORD, a password_file or --password-stdin"
        )
    if parts.scheme not in DEFAULT_PORTS:
        raise UsageError(f"bad broker URL {shown!r}: expected stomp://HOST:PORT or stomp+ssl://HOST:PORT")
    try:
        port = parts.port or DEFAULT_PORTS[parts.scheme]
    except ValueError:
        raise UsageError(f"bad broker URL {shown!r}: invalid port") from None
    if not parts.hostname:
        raise UsageError(f"bad broker URL {shown!r}: missing host")
    return BrokerEndpoint(parts.hostname, port, parts.scheme == "stomp+ssl")


def resolve_broker(
    settings: Settings,
    profile_name: str | None = None,
    amazon_mq_endpoints: Callable[[str], list[str]] | None = None,
) -> BrokerTarget:
    """Build the broker target from --broker/MSGCTL_BROKER/config; credentials never come from flags."""
    spec = profile_name or settings.broker or settings.config.default_broker
    if not spec:
        raise UsageError("no broker given: pass --broker stomp://HOST:PORT or set MSGCTL_BROKER")
    profile: BrokerProfile | None = settings.config.brokers.get(spec)
    if profile_name and profile is None:
        raise UsageError(f"no broker profile {profile_name!r} in the config file")
    if profile is not None:
        endpoints = tuple(e for url in profile.urls for e in parse_broker_urls(url))
    elif spec.startswith("mq:"):
        if amazon_mq_endpoints is None:
            raise UsageError("mq: brokers need the Amazon MQ API")
        endpoints = tuple(e for url in amazon_mq_endpoints(spec[3:]) for e in parse_broker_urls(url))
    elif "://" in spec:
        endpoints = parse_broker_urls(spec)
    else:
        raise UsageError(
            f"unknown broker {spec!r}: not a stomp:// URL, mq:NAME or a profile in the config file"
        )
    # MSGCTL_BROKER_USER/PASSWORD are for the default broker; a profile an address names (amq://NAME/...)
    # uses its own credentials, so the default broker's password is never sent to another broker.
    use_environment = profile is None or not profile_name
    user = settings.broker_user if use_environment and settings.broker_user else None
    password = settings.broker_password if use_environment and settings.broker_password else None
    return BrokerTarget(
        endpoints=endpoints,
        user=user or (profile.user if profile else None),
        password=password or (_profile_password(profile) if profile else None),
        ca_file=settings.ca_file or (profile.ca_file if profile else None),
        verify=not settings.insecure and (profile.verify if profile else True),
        timeouts=settings.config.timeouts,
    )


def _profile_password(profile: BrokerProfile) -> str | None:
    if profile.password_env:
        value = os.environ.get(profile.password_env)
        if value is None:
            raise UsageError(f"broker profile {profile.name!r}: ${profile.password_env} is not set")
        return value
    if profile.password_file:
        path = Path(profile.password_file).expanduser()
        try:
            return path.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise UsageError(f"broker profile {profile.name!r}: cannot read {path}: {exc.strerror}") from None
    return None
