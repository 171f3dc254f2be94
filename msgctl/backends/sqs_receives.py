"""msgctl's own receives of an SQS queue: the receive call itself, and what each receive saw per message
id, kept in the state directory between runs.

SQS tells a message's receive count only to whoever receives it, so a read that must not push messages into
the DLQ has to know before receiving: tail, fifo lag and the chain probe record what each of their receives
saw here, and consult it before the next one.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from msgctl.backends.aws import aws_errors
from msgctl.config import LONG_POLL_S
from msgctl.core.state_paths import state_file

RETENTION_S = 14 * 86400  # SQS keeps a message at most 14 days: older records are moot
RECEIVE_LIMIT = 10  # SQS returns at most 10 messages a receive


def sqs_receive(
    client: Any,
    url: str,
    channel: str,
    hold_s: int | None = None,
    max_messages: int = RECEIVE_LIMIT,
    message_attributes: bool = True,
) -> dict[str, Any]:
    """One long-polling receive of up to ``max_messages`` messages (the reply's ``Messages``) with all
    their system attributes, and their message attributes unless told not; hidden for ``hold_s`` (the
    queue's own visibility timeout when None). An error names ``channel``."""
    request: dict[str, Any] = {
        "QueueUrl": url,
        "MaxNumberOfMessages": max_messages,
        "WaitTimeSeconds": LONG_POLL_S,
        "AttributeNames": ["All"],
    }
    if hold_s is not None:
        request["VisibilityTimeout"] = hold_s
    if message_attributes:
        request["MessageAttributeNames"] = ["All"]
    with aws_errors(f"cannot receive from {channel}"):
        response: dict[str, Any] = client.receive_message(**request)
    return response


class ReceiveRecord:
    """Per message id: how many receives msgctl made, when it last received it, and the receive count SQS
    reported then (which includes the consumers' receives)."""

    def __init__(self, queue_url: str, path: Path | None = None) -> None:
        self.path = path or state_file("receives", queue_url)
        try:
            raw = json.loads(self.path.read_text())
        except (OSError, ValueError):
            raw = {}
        now = time.time()
        self.entries: dict[str, list[float]] = {}
        for message_id, entry in raw.items() if isinstance(raw, dict) else ():
            if isinstance(entry, list) and len(entry) in (2, 3) and now - entry[1] < RETENTION_S:
                by_msgctl, last = int(entry[0]), float(entry[1])
                self.entries[message_id] = [by_msgctl, last, int(entry[2]) if len(entry) == 3 else by_msgctl]

    def by_msgctl(self, message_id: str) -> int:
        return int(self.entries.get(message_id, [0, 0, 0])[0])

    def add(self, messages: Iterable[dict[str, Any]]) -> None:
        """Record SQS messages as msgctl just received them (their ApproximateReceiveCount included)."""
        now = time.time()
        for message in messages:
            message_id = message["MessageId"]
            count = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "0") or 0)
            self.entries[message_id] = [self.by_msgctl(message_id) + 1, now, count]

    def forget_all_but(self, message_ids: set[str]) -> None:
        """A read saw the whole queue: what it did not see is gone (deleted or dead-lettered)."""
        self.entries = {k: v for k, v in self.entries.items() if k in message_ids}

    def forget_if_empty(self, queue_attributes: dict[str, str]) -> None:
        """A queue that holds nothing (visible, in flight or delayed) holds none of the recorded messages."""
        counts = (
            queue_attributes.get("ApproximateNumberOfMessages", ""),
            queue_attributes.get("ApproximateNumberOfMessagesNotVisible", ""),
            queue_attributes.get("ApproximateNumberOfMessagesDelayed", "0"),
        )
        if all(count.strip() == "0" for count in counts):
            self.entries.clear()

    def forget(self, message_ids: Iterable[str]) -> None:
        for message_id in message_ids:
            self.entries.pop(message_id, None)

    def at_least(self, receive_count: int) -> int:
        """How many recorded messages SQS last reported at ``receive_count`` receives or more."""
        return sum(1 for entry in self.entries.values() if entry[2] >= receive_count)

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps(self.entries))
        temporary.replace(self.path)


def next_receive_risk(record: ReceiveRecord, max_receive_count: int | None) -> int:
    """How many recorded messages another receive would leave one receive from the DLQ, or move there: a
    message is delivered maxReceiveCount times, and the receive after that dead-letters it."""
    if max_receive_count is None:
        return 0
    return record.at_least(max_receive_count - 1)
