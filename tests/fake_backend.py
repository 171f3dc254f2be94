"""An in-memory broker behind msgctl's Backend port, registered through the backend registry: CLI and
rendering tests run with it and without any server.

Channels are declared up front (``add``); ``send`` appends to a channel and answers with sequential ids,
so a test knows exactly what msgctl will print.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from msgctl.address import Channel, Kind
from msgctl.core.ports import (
    Backend,
    Capabilities,
    ChannelStats,
    ChannelSummary,
    OutgoingMessage,
    SendReceipt,
)
from msgctl.errors import NotFoundError


@dataclass
class FakeChannel:
    name: str
    kind: Kind = "queue"
    in_flight: int = 0
    delayed: int = 0
    dlq: str | None = None
    subscriptions: int | None = None
    oldest_age_s: float | None = None
    messages: list[OutgoingMessage] = field(default_factory=list)


class FakeBackend:
    """Satisfies msgctl.core.ports.Backend; counts its ``close`` calls."""

    def __init__(self, service: str, capabilities: Capabilities | None = None) -> None:
        self.service = service
        self.capabilities = capabilities or Capabilities(fifo=True)
        self.channels: dict[str, FakeChannel] = {}
        self.sent = 0
        self.closed = 0

    def add(self, name: str, **fields: Any) -> FakeChannel:
        self.channels[name] = FakeChannel(name, **fields)
        return self.channels[name]

    def list_channels(self, prefix: str | None = None) -> Iterator[ChannelSummary]:
        for name in sorted(self.channels):
            if prefix is None or name.startswith(prefix):
                yield self._summary(self.channels[name])

    def stats(self, channel: Channel) -> ChannelStats:
        held = self._channel(channel)
        return ChannelStats(
            summary=self._summary(held),
            oldest_age_s=held.oldest_age_s,
            details={"fifo": channel.fifo, "attributes": {"VisibilityTimeout": "30"}},
        )

    def send(self, channel: Channel, message: OutgoingMessage) -> SendReceipt:
        held = self._channel(channel)
        held.messages.append(message)
        self.sent += 1
        sequence = str(self.sent) if message.group_id else None
        return SendReceipt(str(channel), f"fake-{self.sent}", sequence)

    def close(self) -> None:
        self.closed += 1

    def _channel(self, channel: Channel) -> FakeChannel:
        if channel.name not in self.channels:
            raise NotFoundError(f"{channel} does not exist")
        return self.channels[channel.name]

    def _summary(self, held: FakeChannel) -> ChannelSummary:
        return ChannelSummary(
            channel=f"{self.service}:{held.name}",
            kind=held.kind,
            depth=len(held.messages),
            in_flight=held.in_flight,
            delayed=held.delayed,
            dlq=held.dlq,
            subscriptions=held.subscriptions,
        )


def factory_for(backend: FakeBackend) -> Callable[[Any, str | None], Backend]:
    """What ``register_backend`` takes: every Backends registry (one per run) gets this same backend."""

    def create(_backends: Any, _broker_profile: str | None) -> Backend:
        return backend

    return create
