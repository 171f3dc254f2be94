"""Channel addresses: the one grammar every command uses to name a queue or a topic."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from msgctl.errors import UsageError

Service = Literal["sqs", "sns", "amq"]
Kind = Literal["queue", "topic"]

ACCEPTED_FORMS = (
    "sqs:NAME, an SQS queue URL, arn:aws:sqs:REGION:ACCOUNT:NAME, sns:NAME, "
    "arn:aws:sns:REGION:ACCOUNT:NAME, amq:queue/NAME, amq:topic/NAME or amq://PROFILE/queue/NAME"
)

_AWS_NAME = re.compile(r"[A-Za-z0-9_-]+(\.fifo)?")
_ARN = re.compile(r"arn:(aws[a-z-]*):(sqs|sns):([a-z0-9-]+):(\d{12}):(.+)")
_SQS_HOST_REGION = re.compile(r"(?:sqs\.)?([a-z]{2}(?:-[a-z]+)+-\d)\.")
_AMQ_BAD_CHARS = re.compile(r"[\s\x00-\x1f\x7f]")
# The broker reads these as wildcards (*, >) or a composite destination (,) wherever a name is matched, so
# one address would mean several destinations: send would take it literally, browse and stats would not.
_AMQ_PATTERN_CHARS = re.compile(r"[*>,]")
_MAX_NAME = {"sqs": 80, "sns": 256, "amq": 1024}


class AddressError(UsageError):
    def __init__(self, text: str, reason: str) -> None:
        super().__init__(f"bad channel address {text!r}: {reason}; expected {ACCEPTED_FORMS}")


@dataclass(frozen=True)
class Channel:
    service: Service
    kind: Kind
    name: str
    region: str | None = None
    account: str | None = None
    queue_url: str | None = None
    broker_profile: str | None = None

    @property
    def fifo(self) -> bool:
        return self.service != "amq" and self.name.endswith(".fifo")

    def __str__(self) -> str:
        if self.service == "amq":
            return f"amq:{self.kind}/{self.name}"
        return f"{self.service}:{self.name}"


def parse_channel(text: str) -> Channel:
    """Parse any accepted form into a Channel; raise AddressError (exit 2) otherwise."""
    stripped = text.strip()
    if not stripped:
        raise AddressError(text, "empty address")
    if stripped.startswith("arn:"):
        return _parse_arn(text, stripped)
    if stripped.startswith(("http://", "https://")):
        return _parse_queue_url(text, stripped)
    if stripped.startswith("amq://"):
        profile, _, rest = stripped[len("amq://") :].partition("/")
        if not profile:
            raise AddressError(text, "missing broker profile after amq://")
        return _parse_amq_path(text, rest, profile)
    scheme, sep, rest = stripped.partition(":")
    if not sep:
        raise AddressError(text, "missing scheme")
    if scheme in ("sqs", "sns"):
        return _aws_channel(text, scheme, rest)
    if scheme == "amq":
        return _parse_amq_path(text, rest, None)
    raise AddressError(text, f"unknown scheme {scheme!r}")


def endpoint_name(protocol: str, endpoint: str) -> str:
    """A subscription's endpoint as addresses are printed: an SQS queue ARN as sqs:NAME; other endpoints
    (HTTP, e-mail, Lambda) as they are."""
    if protocol != "sqs":
        return endpoint
    try:
        return str(parse_channel(endpoint))
    except AddressError:
        return endpoint


def _aws_channel(
    text: str,
    service: str,
    name: str,
    region: str | None = None,
    account: str | None = None,
    queue_url: str | None = None,
) -> Channel:
    if not _AWS_NAME.fullmatch(name):
        raise AddressError(text, f"invalid {service.upper()} name {name!r}")
    if len(name) > _MAX_NAME[service]:
        raise AddressError(text, f"{service.upper()} names have at most {_MAX_NAME[service]} characters")
    kind: Kind = "queue" if service == "sqs" else "topic"
    return Channel(
        service="sqs" if service == "sqs" else "sns",
        kind=kind,
        name=name,
        region=region,
        account=account,
        queue_url=queue_url,
    )


def _parse_arn(text: str, arn: str) -> Channel:
    match = _ARN.fullmatch(arn)
    if not match:
        raise AddressError(text, "not an SQS or SNS ARN")
    _, service, region, account, name = match.groups()
    return _aws_channel(text, service, name, region=region, account=account)


def _parse_queue_url(text: str, url: str) -> Channel:
    parts = urlsplit(url)
    segments = [s for s in parts.path.split("/") if s]
    if len(segments) != 2 or not segments[0].isdigit() or not parts.hostname:
        raise AddressError(text, "a queue URL looks like https://sqs.REGION.amazonaws.com/ACCOUNT/NAME")
    account, name = segments
    region_match = _SQS_HOST_REGION.match(parts.hostname)
    region = region_match.group(1) if region_match else None
    return _aws_channel(text, "sqs", name, region=region, account=account, queue_url=url)


def _parse_amq_path(text: str, path: str, profile: str | None) -> Channel:
    kind, sep, name = path.partition("/")
    if not sep or kind not in ("queue", "topic"):
        raise AddressError(text, "ActiveMQ addresses are amq:queue/NAME or amq:topic/NAME")
    if not name:
        raise AddressError(text, "missing destination name")
    if _AMQ_BAD_CHARS.search(name):
        raise AddressError(text, "destination names cannot contain spaces or control characters")
    if _AMQ_PATTERN_CHARS.search(name):
        raise AddressError(
            text,
            "ActiveMQ reads '*' and '>' as wildcards and ',' as a list of destinations: "
            "an address names exactly one destination",
        )
    if len(name) > _MAX_NAME["amq"]:
        raise AddressError(text, "destination name too long")
    return Channel(
        service="amq", kind="queue" if kind == "queue" else "topic", name=name, broker_profile=profile
    )
