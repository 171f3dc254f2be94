"""What the senders (SQS, SNS and ActiveMQ targets) need of a message, whether it is a dead letter being
redriven or a captured message being replayed."""

from __future__ import annotations

from typing import Protocol, TypeVar

from msgctl.envelope import Envelope


class Outbound(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def envelope(self) -> Envelope: ...

    @property
    def group_id(self) -> str | None: ...

    @property
    def dedup_id(self) -> str: ...


OutboundT = TypeVar("OutboundT", bound=Outbound)
