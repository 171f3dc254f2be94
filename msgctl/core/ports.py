"""The ports: the Backend protocol every broker implements, and the dataclasses that cross it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from msgctl.address import Channel, Kind
from msgctl.envelope import MessageAttribute


@dataclass(frozen=True)
class Capabilities:
    """What a backend can do, so the core asks for a capability instead of a broker name."""

    fifo: bool = False  # FIFO channels with group and deduplication ids
    message_groups: bool = False  # groups on any channel (ActiveMQ JMSXGroupID)
    binary_attributes: bool = False
    array_attributes: bool = False


@dataclass(frozen=True)
class ChannelSummary:
    channel: str
    kind: Kind
    depth: int | None = None
    in_flight: int | None = None
    delayed: int | None = None
    dlq: str | None = None
    subscriptions: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "kind": self.kind,
            "depth": self.depth,
            "in_flight": self.in_flight,
            "delayed": self.delayed,
            "dlq": self.dlq,
            "subscriptions": self.subscriptions,
        }


@dataclass(frozen=True)
class ChannelStats:
    summary: ChannelSummary
    oldest_age_s: float | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def channel(self) -> str:
        return self.summary.channel

    @property
    def depth(self) -> int | None:
        return self.summary.depth

    @property
    def in_flight(self) -> int | None:
        return self.summary.in_flight

    @property
    def dlq(self) -> str | None:
        return self.summary.dlq

    def to_json(self) -> dict[str, Any]:
        return {**self.summary.to_json(), "oldest_age_s": self.oldest_age_s, **self.details}


@dataclass(frozen=True)
class OutgoingMessage:
    body: bytes
    message_attributes: dict[str, MessageAttribute] = field(default_factory=dict)
    group_id: str | None = None
    dedup_id: str | None = None


@dataclass(frozen=True)
class SendReceipt:
    channel: str
    id: str | None
    sequence_number: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"channel": self.channel, "id": self.id, "sequence_number": self.sequence_number}


class Backend(Protocol):
    service: str
    capabilities: Capabilities

    def list_channels(self, prefix: str | None = None) -> Iterator[ChannelSummary]: ...

    def stats(self, channel: Channel) -> ChannelStats: ...

    def send(self, channel: Channel, message: OutgoingMessage) -> SendReceipt: ...

    def close(self) -> None: ...


@runtime_checkable
class SubscriptionPolicies(Protocol):
    """The filter policies of a broker's topic subscriptions (SNS's), read and set by subscription ARN."""

    def find_subscription(self, topic: Channel, queue: Channel) -> str: ...

    def subscription_filter(self, subscription_arn: str) -> tuple[dict[str, Any] | None, str]: ...

    def set_subscription_filter(
        self, subscription_arn: str, policy: dict[str, Any] | None, scope: str
    ) -> None: ...

    def topic_subscriptions(self, topic: Channel) -> list[dict[str, Any]]: ...
