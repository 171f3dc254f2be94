"""SQS dead-letter queues: receiving, deleting, releasing, and AWS's native move tasks (the senders are in
``aws_targets``)."""

from __future__ import annotations

import functools
import threading
from email.utils import parsedate_to_datetime
from typing import Any

from msgctl.address import Channel
from msgctl.backends.aws import aws_errors
from msgctl.backends.sqs import SqsBackend, dead_letter_target, release
from msgctl.backends.sqs_receives import sqs_receive
from msgctl.backends.sqs_tail import envelope_from_sqs
from msgctl.config import LONG_POLL_S
from msgctl.core.parallel import parallel_map
from msgctl.core.redrive import RECEIVE_BATCH, Dead
from msgctl.errors import MsgctlError, NotFoundError

NO_MOVE_TASK_CODES = frozenset({"InvalidAction", "UnsupportedOperation", "NotImplemented"})
FIRST_RECEIVE_SLACK_MS = (LONG_POLL_S + 1) * 1000  # a long poll's wait, and the way back


class SqsDeadLetters:
    """One run's view of an SQS DLQ.

    A message that enters the DLQ after the run started is marked ``returned`` (the run leaves it there):
    typically one the run moved, which the target dead-lettered again. The rule is its SentTimestamp, on the
    server's clock, against the server's time of the run's first receive. It holds for every way back: SNS
    dead-letters a failed delivery as a new SQS message (new id, SentTimestamp when it failed, raw body or
    not), and SQS moves a message from a source queue to its DLQ keeping the SentTimestamp of its send, which
    msgctl made during the run (and its MessageId and receive count: seen on LocalStack). The ids msgctl gets
    back from the target would not do: a raw SNS delivery carries no trace of its SNS MessageId. The first
    receive's time is exact when it hands out a message for the first time (its
    ApproximateFirstReceiveTimestamp); otherwise it is the second of the reply's Date header, and a message
    sent within that second counts as returned: left, never moved twice. (SQS and SNS clocks are AWS's, in
    sync to well under the time a delivery takes.) A message a producer sends into the DLQ during the run
    counts as returned too: the run sets out to move what the DLQ held when it started."""

    def __init__(self, backend: SqsBackend, channel: Channel) -> None:
        self.channel = str(channel)
        self.client = backend.client_for(channel)
        self.url = backend.queue_url(channel)
        self._lock = threading.Lock()
        self._started_ms: int | None = None  # the server's time of the first receive
        self._start_known = False

    def receive(self, hold_s: int) -> list[Dead]:
        response = sqs_receive(self.client, self.url, self.channel, hold_s, RECEIVE_BATCH)
        messages = response.get("Messages", [])
        started_ms = self._run_started(response)
        return [
            Dead(
                m["MessageId"],
                m["ReceiptHandle"],
                envelope_from_sqs(self.channel, m),
                returned=started_ms is not None and _sent_ms(m) > started_ms,
            )
            for m in messages
        ]

    def _run_started(self, response: dict[str, Any]) -> int | None:
        with self._lock:
            if not self._start_known:
                self._start_known = True
                self._started_ms = _server_time_ms(response)
            return self._started_ms

    def delete(self, messages: list[Dead]) -> list[tuple[Dead, str]]:
        return self._batch("delete_message_batch", messages, {})

    def release(self, messages: list[Dead]) -> None:
        # What fails to be released becomes visible again when its hold runs out: nothing is lost.
        self._batch("change_message_visibility_batch", messages, {"VisibilityTimeout": 0})

    def extend(self, messages: list[Dead], hold_s: int) -> list[tuple[Dead, str]]:
        return self._batch("change_message_visibility_batch", messages, {"VisibilityTimeout": hold_s})

    def delete_by_receipt(self, message_id: str, receipt: str) -> bool:
        try:
            with aws_errors(f"cannot delete {message_id} from {self.channel}"):
                self.client.delete_message(QueueUrl=self.url, ReceiptHandle=receipt)
        except MsgctlError:
            return False
        return True

    def visible(self) -> int:
        with aws_errors(f"cannot read {self.channel}"):
            attributes = self.client.get_queue_attributes(
                QueueUrl=self.url, AttributeNames=["ApproximateNumberOfMessages"]
            )["Attributes"]
        return int(attributes.get("ApproximateNumberOfMessages", 0))

    def hidden(self) -> int:
        with aws_errors(f"cannot read {self.channel}"):
            attributes = self.client.get_queue_attributes(
                QueueUrl=self.url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"]
            )["Attributes"]
        return int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0))

    def release_by_receipt(self, receipts: list[str]) -> None:
        release(self.client, self.url, receipts, self.channel)

    def _batch(self, operation: str, messages: list[Dead], extra: dict[str, Any]) -> list[tuple[Dead, str]]:
        failed: list[tuple[Dead, str]] = []
        for start in range(0, len(messages), RECEIVE_BATCH):
            chunk = messages[start : start + RECEIVE_BATCH]
            entries = [{"Id": str(n), "ReceiptHandle": m.receipt, **extra} for n, m in enumerate(chunk)]
            with aws_errors(f"{operation} on {self.channel}"):
                response = getattr(self.client, operation)(QueueUrl=self.url, Entries=entries)
            for failure in response.get("Failed", []):
                failed.append(
                    (chunk[int(failure["Id"])], f"{failure.get('Code')}: {failure.get('Message', '')}")
                )
        return failed


def _sent_ms(message: dict[str, Any]) -> int:
    return int(message.get("Attributes", {}).get("SentTimestamp", 0))


def _server_time_ms(response: dict[str, Any]) -> int | None:
    """The server's time of a receive, or just below it: exact from a message this receive handed out for
    the first time, else the second of the reply's Date header (minus 1 ms: nothing sent within that second
    counts as older). A first-receive time more than a long poll before the reply is not this receive's (a
    copy carried over from a source queue, say): the Date header then. None when neither says."""
    date = _reply_date_ms(response)
    first_receives = [
        int(m["Attributes"]["ApproximateFirstReceiveTimestamp"])
        for m in response.get("Messages", [])
        if m.get("Attributes", {}).get("ApproximateReceiveCount") == "1"
        and "ApproximateFirstReceiveTimestamp" in m.get("Attributes", {})
    ]
    exact = [t for t in first_receives if date is None or date - FIRST_RECEIVE_SLACK_MS <= t < date + 1000]
    if exact:
        return min(exact)
    return date - 1 if date is not None else None


def _reply_date_ms(response: dict[str, Any]) -> int | None:
    date = response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
    try:
        return int(parsedate_to_datetime(date).timestamp() * 1000) if date else None
    except (TypeError, ValueError):
        return None


def source_queues(backend: SqsBackend, dlq: Channel) -> list[str]:
    """The queues whose RedrivePolicy names this DLQ."""
    with aws_errors(f"cannot list the source queues of {dlq}"):
        pages = (
            backend.client_for(dlq)
            .get_paginator("list_dead_letter_source_queues")
            .paginate(QueueUrl=backend.queue_url(dlq))
        )
        return sorted(f"sqs:{url.rsplit('/', 1)[-1]}" for page in pages for url in page.get("queueUrls", []))


def dead_letter_queues(backend: SqsBackend, prefix: str | None = None) -> dict[str, list[str]]:
    """Every queue some RedrivePolicy names, with the queues that name it."""
    client = backend.client_for(Channel("sqs", "queue", "x"))
    kwargs: dict[str, Any] = {"PaginationConfig": {"PageSize": 1000}}
    with aws_errors("cannot list SQS queues"):
        urls = [
            u
            for page in client.get_paginator("list_queues").paginate(**kwargs)
            for u in page.get("QueueUrls", [])
        ]
    dlqs: dict[str, list[str]] = {}
    targets = parallel_map(functools.partial(_dead_letter_target_of, client), urls)
    for url, target in zip(urls, targets, strict=True):
        if target and (not prefix or target.removeprefix("sqs:").startswith(prefix)):
            dlqs.setdefault(target, []).append(f"sqs:{url.rsplit('/', 1)[-1]}")
    return dlqs


def _dead_letter_target_of(client: Any, url: str) -> str | None:
    """The DLQ the queue's RedrivePolicy names; None also when the queue was deleted while we were listing."""
    try:
        with aws_errors("cannot read queue attributes"):
            response = client.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])
    except NotFoundError:
        return None
    return dead_letter_target(response.get("Attributes", {}).get("RedrivePolicy"))


class NativeMove:
    """AWS's StartMessageMoveTask: server-side, no selection, at most 500 msg/s."""

    def __init__(self, backend: SqsBackend, dlq: Channel) -> None:
        self.client = backend.client_for(dlq)
        self.dlq = dlq
        with aws_errors(f"cannot read {dlq}"):
            self.dlq_arn = str(
                self.client.get_queue_attributes(
                    QueueUrl=backend.queue_url(dlq), AttributeNames=["QueueArn"]
                )["Attributes"]["QueueArn"]
            )

    def available(self) -> bool:
        """Does this endpoint implement move tasks? (moto does not; LocalStack and AWS do.)"""
        try:
            with aws_errors("ListMessageMoveTasks"):
                self.client.list_message_move_tasks(SourceArn=self.dlq_arn, MaxResults=1)
        except MsgctlError:
            return False
        return True

    def start(self, destination_arn: str | None, rate: float | None) -> str:
        kwargs: dict[str, Any] = {"SourceArn": self.dlq_arn}
        if destination_arn:
            kwargs["DestinationArn"] = destination_arn
        if rate:
            kwargs["MaxNumberOfMessagesPerSecond"] = max(1, int(rate))
        with aws_errors(f"cannot start a move task on {self.dlq}"):
            return str(self.client.start_message_move_task(**kwargs)["TaskHandle"])

    def tasks(self) -> list[dict[str, Any]]:
        try:
            with aws_errors(f"cannot list the move tasks of {self.dlq}"):
                response = self.client.list_message_move_tasks(SourceArn=self.dlq_arn, MaxResults=10)
        except MsgctlError as exc:
            if not _lacks_move_tasks(exc):
                raise
            raise MsgctlError(
                f"the endpoint {self.client.meta.endpoint_url} has no move tasks (ListMessageMoveTasks "
                f"answered {exc.code}): move with msgctl dlq redrive --engine client",
                "NoMoveTasks",
            ) from exc
        return list(response["Results"])

    def cancel(self, task_handle: str) -> int:
        with aws_errors(f"cannot cancel the move task of {self.dlq}"):
            return int(
                self.client.cancel_message_move_task(TaskHandle=task_handle).get(
                    "ApproximateNumberOfMessagesMoved", 0
                )
            )


def _lacks_move_tasks(exc: MsgctlError) -> bool:
    """An endpoint that does not implement the move task API: it says so, or (moto) fails with a bare
    HTTP status and an error page; AWS's own errors have named codes."""
    code = exc.code or ""
    return code.isdigit() or code in NO_MOVE_TASK_CODES
