"""ActiveMQ virtual topics as chains: producers send to ``VirtualTopic.<topic>``; each consumer reads its own
``Consumer.<name>.VirtualTopic.<topic>`` queue, which the broker fills once the queue exists.

A topic address names one destination in every command, so a chain's topic is written in full
(``amq:topic/VirtualTopic.orders``): ``amq:topic/orders`` is the plain topic ``orders``, which feeds no queue.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from msgctl.address import Channel
from msgctl.backends.activemq import (
    CONSUMER_PREFIX,
    SHARED_DLQ,
    VIRTUAL_PREFIX,
    ActiveMqBackend,
    consumer_queues,
    dlq_for,
)
from msgctl.core.chains import (
    DEFAULT_MAX_RECEIVE_COUNT,
    ChainSpec,
    ChainTree,
    Change,
    Conflict,
    Link,
    ProbeResult,
)
from msgctl.errors import MsgctlError, NotFoundError, UsageError

CANARY_PROPERTY = "msgctl_canary"


def virtual_topic(topic: Channel) -> str:
    """The topic's name, which must be a virtual topic's: only those feed consumer queues."""
    if not topic.name.startswith(VIRTUAL_PREFIX) or topic.name == VIRTUAL_PREFIX:
        raise UsageError(
            f"{topic} is a plain topic, which feeds no queue: an ActiveMQ chain starts at a virtual topic, "
            f"amq:topic/{VIRTUAL_PREFIX}{topic.name}"
        )
    return topic.name


def consumer_queue(queue_name: str, topic_name: str) -> str:
    if queue_name.startswith(CONSUMER_PREFIX) and queue_name.endswith(f".{topic_name}"):
        return queue_name
    return f"{CONSUMER_PREFIX}{queue_name}.{topic_name}"


class ActiveMqChainBackend:
    def __init__(self, backend: ActiveMqBackend) -> None:
        self._amq = backend

    def validate(self, spec: ChainSpec) -> None:
        topic = virtual_topic(spec.topic)
        aws_only = {
            "--fifo": spec.fifo,
            "--content-based-dedup": spec.content_based_dedup,
            "--kms-key": spec.kms_key is not None,
            "--tag": bool(spec.tags),
            "--max-receive-count": spec.max_receive_count != DEFAULT_MAX_RECEIVE_COUNT,
            "--filter-policy": any(q.filter_policy for q in spec.queues),
            "--no-raw": any(not q.raw for q in spec.queues),
        }
        for queue in spec.queues:
            name = queue.channel.name
            if "." in name and consumer_queue(name, topic) != name:
                raise UsageError(
                    f"{queue.channel}: a consumer name cannot contain '.': the broker feeds only "
                    "Consumer.<name>.VirtualTopic.<topic> queues whose <name> is one segment"
                )
        given = [flag for flag, used in aws_only.items() if used]
        if given:
            raise UsageError(
                f"{', '.join(given)}: SNS/SQS options; ActiveMQ virtual topics have no such setting "
                "(redelivery and DLQs are broker policy)"
            )

    def plan(self, spec: ChainSpec) -> tuple[list[Change], list[Conflict]]:
        topic = virtual_topic(spec.topic)
        queues = {name for name, _ in self._amq.destinations(">", "queue")}
        topics = {name for name, _ in self._amq.destinations(">", "topic")}
        changes = [
            Change(
                f"topic amq:topic/{topic}",
                "unchanged" if topic in topics else "create",
                "virtual topic: producers send here",
                self._toucher(f"/topic/{topic}"),
            )
        ]
        for queue_spec in spec.queues:
            name = consumer_queue(queue_spec.channel.name, topic)
            exists = name in queues
            dlq = "DLQ by broker policy" if spec.dlq else ""
            changes.append(
                Change(
                    f"queue amq:queue/{name}",
                    "unchanged" if exists else "create",
                    f"consumer {queue_spec.channel.name} reads here; {dlq}".rstrip("; "),
                    None if exists else self._toucher(f"/queue/{name}"),
                )
            )
        return changes, []

    def _toucher(self, destination: str) -> Any:
        return lambda: self._amq.session.touch(destination)

    def show(self, topic: Channel) -> ChainTree:
        name = virtual_topic(topic)
        queues = dict(self._amq.destinations(">", "queue"))
        topics = {topic_name for topic_name, _ in self._amq.destinations(">", "topic")}
        consumers = consumer_queues(name, queues)
        if name not in topics and not consumers:
            raise NotFoundError(f"virtual topic amq:topic/{name} not found (no topic, no consumer queues)")
        tree = ChainTree(topic=f"amq:topic/{name}", exists=name in topics, fifo=False)
        for queue in consumers:
            stats = queues[queue]
            dlq = dlq_for(queue, set(queues))
            link = Link(
                endpoint=f"/queue/{queue}",
                protocol="virtual-topic",
                channel=f"amq:queue/{queue}",
                depth=stats.get("size"),
                in_flight=stats.get("inflightCount"),
                consumers=stats.get("consumerCount"),
                dlq=dlq,
                dlq_depth=queues.get(dlq.split("/", 1)[1], {}).get("size") if dlq else None,
            )
            if not link.consumers:
                link.warnings.append("no consumer is connected: messages wait in the queue")
            if dlq and dlq.endswith(SHARED_DLQ):
                link.warnings.append("dead letters go to the shared ActiveMQ.DLQ")
            tree.links.append(link)
        if not consumers:
            tree.problems.append("no consumer queues: messages published here go nowhere")
        return tree

    def probe(self, tree: ChainTree, timeout_s: float, force: bool = False) -> list[ProbeResult]:
        """Send a canary through the virtual topic; take it back from each consumer queue by selector."""
        canary = uuid.uuid4().hex
        session = self._amq.session
        inboxes = {
            link.channel: session.subscribe(
                link.endpoint, {"selector": f"{CANARY_PROPERTY} = '{canary}'"}, ack="client-individual"
            )
            for link in tree.links
            if link.channel
        }
        start = time.monotonic()
        results: list[ProbeResult] = []
        try:
            session.send(
                f"/topic/{tree.topic.split('/', 1)[1]}",
                json.dumps({CANARY_PROPERTY: canary}).encode(),
                {"persistent": "true", CANARY_PROPERTY: canary},
            )
            for channel, (_, inbox) in inboxes.items():
                remaining = max(0.1, timeout_s - (time.monotonic() - start))
                try:
                    frame = session.receive(inbox, channel, remaining)
                except MsgctlError as exc:
                    if exc.code != "Timeout":
                        raise
                    results.append(ProbeResult(channel, "missing", f"not received within {timeout_s:g} s"))
                    continue
                session.ack(frame)
                results.append(ProbeResult(channel, "delivered", f"after {time.monotonic() - start:.1f} s"))
        finally:
            for sub_id, _ in inboxes.values():
                session.unsubscribe(sub_id)
        return results

    def plan_delete(self, topic: Channel, with_queues: bool) -> list[Change]:
        virtual_topic(topic)
        raise _cannot_delete()

    def plan_prune(self, spec: ChainSpec) -> list[Change]:
        listed = {consumer_queue(q.channel.name, virtual_topic(spec.topic)) for q in spec.queues}
        try:
            tree = self.show(spec.topic)
        except NotFoundError:
            return []
        if any(link.channel and link.channel.split("/", 1)[1] not in listed for link in tree.links):
            raise _cannot_delete()
        return []


def _cannot_delete() -> MsgctlError:
    return MsgctlError(
        "ActiveMQ cannot delete destinations over STOMP: remove the consumer queues from the web console "
        "or let the broker drop inactive ones (gcInactiveDestinations)"
    )
