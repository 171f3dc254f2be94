"""SNS topic -> SQS queue chains as they are: the tree (show) and the delivery check (a canary published
through the topic and looked for on every queue)."""

from __future__ import annotations

import functools
import json
import time
import uuid
from typing import Any

from msgctl.address import Channel
from msgctl.backends.aws import arn_name, aws_errors
from msgctl.backends.sns_chain_base import ChainQueue, SnsChainBase, json_object
from msgctl.backends.sqs import max_receive_count
from msgctl.backends.sqs_receives import ReceiveRecord, next_receive_risk, sqs_receive
from msgctl.core.chains import ChainTree, Link, ProbeResult
from msgctl.core.parallel import parallel_map
from msgctl.core.queue_policy import policy_allows_topic
from msgctl.errors import NotFoundError, UsageError
from msgctl.filter.engine import FilterPolicy, Message
from msgctl.filter.lint import lint

CANARY_ATTRIBUTE = "msgctl_canary"


class SnsChainInspector(SnsChainBase):
    """The chain as a tree with its broken links flagged, and the canary probe that proves delivery."""

    def show(self, topic: Channel) -> ChainTree:
        topic_arn = self._clients.arn("sns", topic.name)
        attributes = self._topic_attributes(topic_arn)
        if attributes is None:
            raise NotFoundError(f"topic {topic} not found")
        fifo = attributes.get("FifoTopic", "false").lower() == "true"
        tree = ChainTree(topic=str(topic), exists=True, fifo=fifo)
        link = functools.partial(self._link, topic, topic_arn, fifo)
        tree.links += parallel_map(link, self._subscriptions(topic_arn))
        if not tree.links:
            tree.problems.append("no subscriptions: messages published here go nowhere")
        return tree

    def _link(self, topic: Channel, topic_arn: str, topic_fifo: bool, sub: dict[str, Any]) -> Link:
        attributes = sub.get("Attributes", {})
        scope = attributes.get("FilterPolicyScope", "MessageAttributes")
        link = Link(
            endpoint=sub.get("Endpoint", ""),
            protocol=sub.get("Protocol", ""),
            subscription=sub.get("SubscriptionArn"),
            raw=attributes.get("RawMessageDelivery", "false").lower() == "true",
            filter_policy=json_object(attributes.get("FilterPolicy")),
            filter_scope="body" if scope == "MessageBody" else "attributes",
            pending_confirmation=not str(sub.get("SubscriptionArn", "")).startswith("arn:"),
        )
        if link.pending_confirmation:
            link.problems.append("subscription is pending confirmation")
        if link.protocol != "sqs":
            return link
        name = arn_name(link.endpoint)
        link.channel = f"sqs:{name}"
        if link.endpoint != self._clients.arn("sqs", name):
            link.foreign = True
            link.warnings.append("queue in another account or region: not inspected, probed or deleted")
            return link
        queue = self._queue(name)
        link.exists = queue.exists
        if not queue.exists:
            link.problems.append("subscription to a missing queue")
            return link
        link.fifo = queue.fifo
        link.depth = _int(queue.attr("ApproximateNumberOfMessages"))
        link.in_flight = _int(queue.attr("ApproximateNumberOfMessagesNotVisible"))
        if queue.fifo and not topic_fifo:
            link.problems.append("FIFO queue on a standard topic: SNS cannot deliver")
        elif topic_fifo and not queue.fifo:
            link.warnings.append("standard queue on a FIFO topic: ordering and deduplication are lost")
        if not policy_allows_topic(queue.attr("Policy") or None, queue.arn, topic_arn):
            link.problems.append(f"queue policy does not allow {topic} to send")
        kms_problem = self._kms_problem(queue.attr("KmsMasterKeyId"))
        if kms_problem:
            link.problems.append(kms_problem)
        self._inspect_dlq(link, queue)
        return link

    def _inspect_dlq(self, link: Link, queue: ChainQueue) -> None:
        redrive = json_object(queue.attr("RedrivePolicy"))
        if not redrive:
            link.warnings.append("no DLQ: messages that keep failing are lost after the retention period")
            return
        dlq = self._queue(arn_name(str(redrive.get("deadLetterTargetArn", ""))))
        link.dlq = f"sqs:{dlq.name}"
        if not dlq.exists:
            link.problems.append(f"DLQ {link.dlq} is missing")
            return
        link.dlq_depth = _int(dlq.attr("ApproximateNumberOfMessages"))

    def probe(self, tree: ChainTree, timeout_s: float, force: bool = False) -> list[ProbeResult]:
        """Publish a canary through the topic and look for it on every SQS queue the topic feeds. A queue
        cannot be searched without receiving its other messages too, so the probe follows tail's rules: it
        refuses (before publishing) a queue that dead-letters after 2 receives or fewer, or where msgctl's
        earlier receives left messages one receive from that limit, receives each message at most once and
        releases a queue's messages as soon as its canary is found."""
        canary = uuid.uuid4().hex
        message = Message(
            body=json.dumps({CANARY_ATTRIBUTE: canary}),
            attributes={CANARY_ATTRIBUTE: ("String", canary)},
        )
        results, probed = _unprobed(tree.links, message)
        queues = parallel_map(self._queue, [channel.split(":", 1)[1] for channel in probed])
        waiting = dict(zip(probed, queues, strict=True))
        if not force:
            _refuse_receives_toward_the_dlq(waiting)
        topic_arn = self._clients.arn("sns", tree.topic.split(":", 1)[1])
        publish: dict[str, Any] = {
            "TopicArn": topic_arn,
            "Message": message.body,
            "MessageAttributes": {CANARY_ATTRIBUTE: {"DataType": "String", "StringValue": canary}},
        }
        if tree.fifo:
            publish |= {"MessageGroupId": "msgctl-canary", "MessageDeduplicationId": canary}
        with aws_errors(f"cannot publish the canary to {tree.topic}"):
            self._sns.publish(**publish)
        found, near_dlq = self._collect_canaries(waiting, canary, timeout_s)
        for channel in waiting:
            cost = f"; {near_dlq[channel]}" if channel in near_dlq else ""
            if channel in found:
                results.append(ProbeResult(channel, "delivered", f"after {found[channel]:.1f} s{cost}"))
            else:
                results.append(ProbeResult(channel, "missing", f"not received within {timeout_s:g} s{cost}"))
        return sorted(results, key=lambda r: r.channel)

    def _collect_canaries(
        self, waiting: dict[str, ChainQueue], canary: str, timeout_s: float
    ) -> tuple[dict[str, float], dict[str, str]]:
        """Receive until each queue gave up the canary; other messages are held (so each is received once),
        recorded, and released as soon as their queue's canary is found. Returns when each canary came, and
        per queue how many other messages are now one receive from the DLQ."""
        start = time.monotonic()
        found: dict[str, float] = {}
        held: dict[str, list[tuple[str, str]]] = {channel: [] for channel in waiting}
        records = {channel: ReceiveRecord(q.url) for channel, q in waiting.items() if q.url}
        counts: dict[str, dict[str, int]] = {channel: {} for channel in waiting}
        hold_s = int(timeout_s) + 10
        try:
            while len(found) < len(waiting) and time.monotonic() - start < timeout_s:
                for channel, queue in waiting.items():
                    if channel in found or queue.url is None:
                        continue
                    messages = self._receive(channel, queue.url, hold_s)
                    others = [m for m in messages if not _is_canary(m, canary)]
                    held[channel] += [(queue.url, m["ReceiptHandle"]) for m in others]
                    records[channel].add(others)
                    counts[channel].update({m["MessageId"]: _receive_count(m) for m in others})
                    if len(others) < len(messages):
                        self._delete_canaries(channel, queue.url, messages, canary)
                        found[channel] = time.monotonic() - start
                        self._release(held.pop(channel))
        finally:
            self._release([handle for handles in held.values() for handle in handles])
            for record in records.values():
                record.save()
        return found, _near_dlq(waiting, counts)

    def _receive(self, channel: str, url: str, hold_s: int) -> list[dict[str, Any]]:
        return list(sqs_receive(self._sqs, url, channel, hold_s).get("Messages", []))

    def _delete_canaries(self, channel: str, url: str, messages: list[dict[str, Any]], canary: str) -> None:
        for received in messages:
            if _is_canary(received, canary):
                with aws_errors(f"cannot delete the canary from {channel}"):
                    self._sqs.delete_message(QueueUrl=url, ReceiptHandle=received["ReceiptHandle"])

    def _release(self, held: list[tuple[str, str]]) -> None:
        for url in {u for u, _ in held}:
            handles = [h for u, h in held if u == url]
            for start in range(0, len(handles), 10):
                entries = [
                    {"Id": str(n), "ReceiptHandle": h, "VisibilityTimeout": 0}
                    for n, h in enumerate(handles[start : start + 10])
                ]
                with aws_errors("cannot release held messages"):
                    self._sqs.change_message_visibility_batch(QueueUrl=url, Entries=entries)


def _unprobed(links: list[Link], message: Message) -> tuple[list[ProbeResult], list[str]]:
    """The results of the links the canary cannot reach, and the SQS queues it should reach."""
    results: list[ProbeResult] = []
    probed: list[str] = []
    for link in links:
        if link.protocol != "sqs" or link.channel is None or link.foreign:
            continue
        if not link.exists:
            results.append(ProbeResult(link.channel, "missing", "queue does not exist"))
        elif link.filter_policy and _rejects(link, message):
            results.append(ProbeResult(link.channel, "filtered", "its filter policy rejects the canary"))
        else:
            probed.append(link.channel)
    return results, probed


def _refuse_receives_toward_the_dlq(queues: dict[str, ChainQueue]) -> None:
    """Tail's rules, before the canary is published: a receive must not leave other messages one receive from
    the DLQ, nor move them there."""
    reasons = []
    for channel, queue in queues.items():
        limit = max_receive_count(queue.attributes or {})
        if limit is None or queue.url is None:
            continue
        at_risk = next_receive_risk(ReceiveRecord(queue.url), limit)
        if limit <= 2:
            reasons.append(f"{channel} moves a message to its DLQ after {limit} receives")
        elif at_risk:
            reasons.append(
                f"msgctl's earlier receives left {at_risk} messages of {channel} one receive from the limit "
                f"of its DLQ (maxReceiveCount {limit})"
            )
    if reasons:
        raise UsageError(
            "the probe receives every message of a queue to find its canary, and "
            + "; ".join(reasons)
            + ": nothing was published or received (--force to probe anyway)"
        )


def _near_dlq(queues: dict[str, ChainQueue], counts: dict[str, dict[str, int]]) -> dict[str, str]:
    near = {}
    for channel, queue in queues.items():
        limit = max_receive_count(queue.attributes or {})
        at_limit = sum(1 for count in counts[channel].values() if limit is not None and count >= limit)
        if at_limit:
            near[channel] = (
                f"{at_limit} other messages are now one receive from the DLQ (maxReceiveCount {limit})"
            )
    return near


def _receive_count(message: dict[str, Any]) -> int:
    return int(message.get("Attributes", {}).get("ApproximateReceiveCount", "0") or 0)


def _rejects(link: Link, message: Message) -> bool:
    """Does the subscription's policy reject the canary? A policy the engine cannot read is not assumed to."""
    policy = link.filter_policy or {}
    if lint(policy, link.filter_scope):
        return False
    return not FilterPolicy(policy, link.filter_scope).matches(message)


def _is_canary(message: dict[str, Any], canary: str) -> bool:
    attribute = message.get("MessageAttributes", {}).get(CANARY_ATTRIBUTE, {})
    if attribute.get("StringValue") == canary:
        return True
    envelope = json_object(
        message.get("Body")
    )  # without raw delivery the attributes are inside the SNS envelope
    if not envelope:
        return False
    value = envelope.get("MessageAttributes", {}).get(CANARY_ATTRIBUTE, {}).get("Value")
    return bool(value == canary)


def _int(value: str) -> int | None:
    return int(value) if value.isdigit() else None
