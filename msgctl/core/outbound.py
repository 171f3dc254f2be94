"""What the senders (SQS, SNS and ActiveMQ targets) need of a message, whether it is a dead letter being
redriven or a captured message being replayed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from msgctl.envelope import Envelope

DEDUP_WINDOW_S = 300  # a FIFO target drops a resend of a deduplication id within this window
DEDUP_MARGIN_S = 30  # a resend this close to the window's end is named anyway (clocks, slow sends)


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


@dataclass
class Delivery(Generic[OutboundT]):
    """What a target did with a batch: what it did not confirm (with why), and what a retried request may
    have delivered twice (the earlier attempt's reply was lost, not necessarily the attempt)."""

    failed: list[tuple[OutboundT, str]] = field(default_factory=list)
    maybe_twice: list[OutboundT] = field(default_factory=list)
    unsure: list[OutboundT] = field(default_factory=list)  # failed, but the request may have been carried out
    # The id the target answered for each message it confirmed. A FIFO queue that dropped a resend of a
    # deduplication id answers with the id of the earlier message (LocalStack's SQS; AWS does not document
    # it), so a caller that recorded that id can tell a dropped resend from a new message.
    target_ids: list[tuple[OutboundT, str]] = field(default_factory=list)


class OutboundTarget(Protocol):
    """A queue, topic or broker destination that redrive and replay send batches to."""

    channel: str
    fifo: bool  # every message needs a group id
    dedups: bool  # the target itself drops a resend of a deduplication id within 5 minutes
    ordered: bool  # consumers see the order sent (FIFO, ActiveMQ)
    batch_size: int

    def check(self, message: Outbound) -> None:
        """Raise UsageError when this target cannot take the message (checked before anything is sent)."""

    def send(self, messages: list[OutboundT]) -> Delivery[OutboundT]:
        """Send in order; says which messages the target did not confirm (and why)."""


HELD_BACK = "an earlier message of its group was not sent"


class HoldBack:
    """A message that was not sent holds back the rest of its group, so that a consumer never sees a group
    out of order. The messages without a group count as one group where ``ungrouped`` (a target that hands
    them out in the order sent), and are never held back elsewhere. Nothing is held back on a target that
    does not ``keep_order`` (a standard SQS queue or SNS topic)."""

    def __init__(self, ungrouped: bool, keep_order: bool = True, reason: str = HELD_BACK) -> None:
        self.ungrouped = ungrouped
        self.keep_order = keep_order
        self.reason = reason  # what a held-back message is failed with
        self._broken: set[str] = set()

    def fail(self, message: Outbound) -> None:
        """``message`` was not sent: the rest of its group stays back."""
        key = self._key(message)
        if key is not None:
            self._broken.add(key)

    def holds(self, message: Outbound) -> bool:
        key = self._key(message)
        return self.keep_order and key is not None and key in self._broken

    def _key(self, message: Outbound) -> str | None:
        if message.group_id is not None:
            return message.group_id
        return "" if self.ungrouped else None
