"""Sending a batch to an ActiveMQ queue or topic in one STOMP transaction, confirmed by a receipt on its
COMMIT: the broker has all of the batch or none of it."""

from __future__ import annotations

import contextlib
import threading
import uuid

from msgctl.address import Channel
from msgctl.backends.activemq import ActiveMqBackend, stomp_headers
from msgctl.backends.stomp_session import PendingReceipt
from msgctl.core.outbound import HELD_BACK, Delivery, HoldBack, Outbound, OutboundT
from msgctl.core.ports import OutgoingMessage
from msgctl.errors import MsgctlError, UsageError

TRANSACTION_SIZE = 100


class ActiveMqTarget:
    fifo = False  # message groups order consumers, but nothing on the broker needs a group or drops a resend
    dedups = False
    ordered = True  # a queue hands messages out in the order they came
    batch_size = TRANSACTION_SIZE

    def __init__(self, backend: ActiveMqBackend, channel: Channel) -> None:
        self.channel = str(channel)
        self.session = backend.session
        self.destination = f"/{channel.kind}/{channel.name}"
        self._sending = threading.Lock()  # frames of one transaction go out together on the one connection

    def send(self, messages: list[OutboundT]) -> Delivery[OutboundT]:
        """Never raises for the broker's errors: a refused COMMIT returns the whole batch as failed. Once a
        message cannot be sent, the rest of its group (or of the group-less messages) stays back too."""
        delivery: Delivery[OutboundT] = Delivery()
        failed = delivery.failed
        framed = []
        hold_back = HoldBack(ungrouped=True, reason=f"{HELD_BACK} (order)")
        for message in messages:
            if hold_back.holds(message):
                failed.append((message, hold_back.reason))
                continue
            try:
                framed.append((message, self._headers(message)))
            except UsageError as exc:
                failed.append((message, exc.message))
                hold_back.fail(message)
        if not framed:
            return delivery
        try:
            self._commit(framed).wait()  # waited for outside the lock: other workers send meanwhile
        except MsgctlError as exc:
            failed += [(message, str(exc)) for message, _ in framed]
            if exc.code != "STOMP ERROR":  # no answer to the COMMIT: it may have been carried out
                delivery.unsure += [message for message, _ in framed]
        return delivery

    def _commit(self, framed: list[tuple[OutboundT, dict[str, str]]]) -> PendingReceipt:
        transaction = f"msgctl-send-{uuid.uuid4().hex[:12]}"
        conn = self.session.conn
        with self._sending:
            conn.begin(transaction=transaction)
            try:
                for message, headers in framed:
                    conn.send(
                        self.destination,
                        message.envelope.body,
                        headers={**headers, "transaction": transaction},
                    )
                return self.session.start_commit(transaction)
            except BaseException:
                with contextlib.suppress(Exception):
                    conn.abort(transaction)
                raise

    def check(self, message: Outbound) -> None:
        """Raise UsageError when the message cannot travel as STOMP properties."""
        self._headers(message)

    @staticmethod
    def _headers(message: Outbound) -> dict[str, str]:
        envelope = message.envelope
        return stomp_headers(
            OutgoingMessage(
                body=envelope.body,
                message_attributes=envelope.message_attributes,
                group_id=message.group_id,
                dedup_id=message.dedup_id,
            ),
            envelope.attributes,
        )
