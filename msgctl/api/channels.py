"""Listing channels across brokers: what could be listed is returned, the brokers that failed are named."""

from __future__ import annotations

from dataclasses import dataclass, field

from msgctl.address import Service
from msgctl.backends.registry import Backends
from msgctl.core.ports import ChannelSummary
from msgctl.errors import MsgctlError, UsageError

SERVICES: tuple[Service, ...] = ("sqs", "sns", "amq")


class ChannelList(list[ChannelSummary]):
    """The channels found; ``failures`` names each broker that could not be listed (service, error)."""

    failures: list[tuple[Service, MsgctlError]]


@dataclass
class _Listing:
    found: list[ChannelSummary] = field(default_factory=list)
    failures: list[tuple[Service, MsgctlError]] = field(default_factory=list)


def list_channels(backends: Backends, service: str | None, prefix: str | None) -> ChannelList:
    """One service's channels, or (service None) SQS, SNS and ActiveMQ when a broker is configured. With
    several services, one that fails is recorded in ``failures`` unless every one failed."""
    if service is not None and service not in SERVICES:
        raise UsageError(f"unknown service {service!r}: expected sqs, sns or amq")
    services: list[Service] = [s for s in SERVICES if s == service] or ["sqs", "sns"]
    if service is None and backends.broker_configured:
        services.append("amq")
    listing = _Listing()
    for name in services:
        try:
            listing.found += backends.for_service(name).list_channels(prefix)
        except MsgctlError as exc:
            if service is not None:
                raise
            listing.failures.append((name, exc))
    if len(listing.failures) == len(services):
        raise listing.failures[0][1]
    result = ChannelList(listing.found)
    result.failures = listing.failures
    return result
