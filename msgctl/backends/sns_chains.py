"""SNS topic -> SQS queue chains: read what exists, plan what is missing, show, probe and delete."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from msgctl.address import Channel
from msgctl.backends.aws import AwsClients, arn_name, aws_errors
from msgctl.backends.sqs import max_receive_count
from msgctl.backends.sqs_receives import ReceiveRecord, next_receive_risk
from msgctl.config import LONG_POLL_S
from msgctl.core.chains import (
    ChainSpec,
    ChainTree,
    Change,
    Conflict,
    Link,
    ProbeResult,
    QueueSpec,
    allow_topic_statement,
    dlq_name,
    merge_statement,
    policy_allows_topic,
    remove_statement,
)
from msgctl.errors import NotFoundError, UsageError
from msgctl.filter.engine import FilterPolicy, Message
from msgctl.filter.lint import lint

AWS_MANAGED_SQS_KEY = "alias/aws/sqs"
SCOPES = {"attributes": "MessageAttributes", "body": "MessageBody"}
CANARY_ATTRIBUTE = "msgctl_canary"


@dataclass
class _Queue:
    name: str
    arn: str
    url: str | None
    attributes: dict[str, str] | None

    @property
    def exists(self) -> bool:
        return self.attributes is not None

    def attr(self, key: str, default: str = "") -> str:
        return (self.attributes or {}).get(key, default)

    @property
    def fifo(self) -> bool:
        return self.attr("FifoQueue", "false").lower() == "true"


class SnsChainBackend:
    def __init__(self, clients: AwsClients) -> None:
        self._clients = clients

    @property
    def _sns(self) -> Any:
        return self._clients.client("sns")

    @property
    def _sqs(self) -> Any:
        return self._clients.client("sqs")

    # Reading ---------------------------------------------------------------------------------------------

    def _topic_attributes(self, topic_arn: str) -> dict[str, str] | None:
        try:
            with aws_errors(f"cannot read topic {arn_name(topic_arn)}"):
                return dict(self._sns.get_topic_attributes(TopicArn=topic_arn)["Attributes"])
        except NotFoundError:
            return None

    def _queue(self, name: str) -> _Queue:
        arn = self._clients.arn("sqs", name)
        try:
            with aws_errors(f"cannot find queue {name}"):
                url = self._sqs.get_queue_url(QueueName=name)["QueueUrl"]
            with aws_errors(f"cannot read queue {name}"):
                attributes = self._sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])[
                    "Attributes"
                ]
        except NotFoundError:
            return _Queue(name, arn, None, None)
        return _Queue(name, attributes.get("QueueArn", arn), url, dict(attributes))

    def _subscriptions(self, topic_arn: str) -> list[dict[str, Any]]:
        with aws_errors(f"cannot list the subscriptions of {arn_name(topic_arn)}"):
            subscriptions = [
                sub
                for page in self._sns.get_paginator("list_subscriptions_by_topic").paginate(
                    TopicArn=topic_arn
                )
                for sub in page.get("Subscriptions", [])
            ]
        for sub in subscriptions:
            sub["Attributes"] = {}
            if sub.get("SubscriptionArn", "").startswith("arn:"):
                with aws_errors("cannot read a subscription"):
                    sub["Attributes"] = self._sns.get_subscription_attributes(
                        SubscriptionArn=sub["SubscriptionArn"]
                    )["Attributes"]
        return subscriptions

    def _kms_problem(self, key_id: str) -> str | None:
        """Why SNS cannot use this key, or None when it can (or we cannot tell)."""
        if not key_id:
            return None
        if key_id in (AWS_MANAGED_SQS_KEY, f"{AWS_MANAGED_SQS_KEY}".replace("alias/", "")):
            return f"encrypted with {AWS_MANAGED_SQS_KEY}, an AWS managed key whose policy SNS cannot use"
        try:
            with aws_errors("KMS"):
                metadata = self._clients.client("kms").describe_key(KeyId=key_id)["KeyMetadata"]
        except Exception:  # no KMS permission: the static check cannot decide, delivery will tell
            return None
        if metadata.get("KeyManager") == "AWS":
            return f"encrypted with the AWS managed key {key_id}, whose policy SNS cannot use"
        return None

    # Planning --------------------------------------------------------------------------------------------

    def validate(self, spec: ChainSpec) -> None:
        fifo = spec.fifo or spec.topic.fifo
        for channel in (spec.topic, *(q.channel for q in spec.queues)):
            if channel.fifo != fifo:
                kind = "FIFO" if fifo else "standard"
                raise UsageError(
                    f"{channel}: a {kind} chain needs names {'ending' if fifo else 'not ending'} "
                    "in .fifo on both sides"
                )
        if spec.content_based_dedup and not fifo:
            raise UsageError("--content-based-dedup applies to FIFO chains only")
        if spec.kms_key and self._kms_problem(spec.kms_key):
            raise UsageError(
                f"--kms-key {spec.kms_key}: SNS cannot use an AWS managed key to deliver to "
                "encrypted queues; use a customer managed key whose policy allows sns.amazonaws.com"
            )
        for queue in spec.queues:
            if spec.dlq and len(dlq_name(queue.channel.name)) > 80:
                raise UsageError(
                    f"{queue.channel}: the DLQ name {dlq_name(queue.channel.name)} is over 80 characters"
                )

    def plan(self, spec: ChainSpec) -> tuple[list[Change], list[Conflict]]:
        fifo = spec.fifo or spec.topic.fifo
        topic_arn = self._clients.arn("sns", spec.topic.name)
        changes: list[Change] = []
        conflicts: list[Conflict] = []
        topic = self._topic_attributes(topic_arn)
        changes.append(self._plan_topic(spec, topic_arn, topic, fifo, conflicts))
        if topic is not None and spec.tags:
            changes.append(self._plan_topic_tags(spec, topic_arn))
        subscriptions = self._subscriptions(topic_arn) if topic is not None else []
        by_endpoint = {s.get("Endpoint"): s for s in subscriptions if s.get("Protocol") == "sqs"}
        for queue_spec in spec.queues:
            queue = self._queue(queue_spec.channel.name)
            dlq = self._queue(dlq_name(queue.name)) if spec.dlq else None
            if dlq is not None:
                changes += self._plan_dlq(spec, dlq, queue, fifo, conflicts)
                if dlq.exists and spec.tags:
                    changes.append(self._plan_queue_tags(spec, dlq))
            changes += self._plan_queue(spec, queue, dlq, topic_arn, fifo, conflicts)
            if queue.exists and spec.tags:
                changes.append(self._plan_queue_tags(spec, queue))
            changes.append(
                self._plan_subscription(
                    spec, queue_spec, queue, topic_arn, by_endpoint.get(queue.arn), conflicts
                )
            )
        return changes, conflicts

    def _plan_topic(
        self,
        spec: ChainSpec,
        arn: str,
        attributes: dict[str, str] | None,
        fifo: bool,
        conflicts: list[Conflict],
    ) -> Change:
        resource = f"topic {spec.topic}"
        if attributes is None:
            wanted: dict[str, str] = {"FifoTopic": "true"} if fifo else {}
            if spec.content_based_dedup:
                wanted["ContentBasedDeduplication"] = "true"
            tags = [{"Key": k, "Value": v} for k, v in spec.tags]

            def create() -> None:
                with aws_errors(f"cannot create {spec.topic}"):
                    self._sns.create_topic(Name=spec.topic.name, Attributes=wanted, Tags=tags)

            return Change(resource, "create", "FIFO" if fifo else "standard", create)
        existing_fifo = attributes.get("FifoTopic", "false").lower() == "true"
        if existing_fifo != fifo:
            conflicts.append(Conflict(resource, "type", _kind(existing_fifo), _kind(fifo)))
        if (
            spec.content_based_dedup
            and attributes.get("ContentBasedDeduplication", "false").lower() != "true"
        ):

            def enable_dedup() -> None:
                with aws_errors(f"cannot update {spec.topic}"):
                    self._sns.set_topic_attributes(
                        TopicArn=arn, AttributeName="ContentBasedDeduplication", AttributeValue="true"
                    )

            return Change(resource, "update", "content-based deduplication on", enable_dedup)
        return Change(resource, "unchanged", _kind(existing_fifo))

    def _plan_topic_tags(self, spec: ChainSpec, topic_arn: str) -> Change:
        with aws_errors(f"cannot read the tags of {spec.topic}"):
            listed = self._sns.list_tags_for_resource(ResourceArn=topic_arn).get("Tags", [])

        def tag(changed: dict[str, str]) -> None:
            with aws_errors(f"cannot tag {spec.topic}"):
                self._sns.tag_resource(
                    ResourceArn=topic_arn, Tags=[{"Key": k, "Value": v} for k, v in changed.items()]
                )

        current = {t["Key"]: t["Value"] for t in listed}
        return _tag_change(f"tags {spec.topic}", current, dict(spec.tags), tag)

    def _plan_queue_tags(self, spec: ChainSpec, queue: _Queue) -> Change:
        with aws_errors(f"cannot read the tags of sqs:{queue.name}"):
            current = dict(self._sqs.list_queue_tags(QueueUrl=queue.url).get("Tags", {}))

        def tag(changed: dict[str, str]) -> None:
            with aws_errors(f"cannot tag sqs:{queue.name}"):
                self._sqs.tag_queue(QueueUrl=queue.url, Tags=changed)

        return _tag_change(f"tags sqs:{queue.name}", current, dict(spec.tags), tag)

    def _plan_dlq(
        self, spec: ChainSpec, dlq: _Queue, queue: _Queue, fifo: bool, conflicts: list[Conflict]
    ) -> list[Change]:
        resource = f"dlq sqs:{dlq.name}"
        allow = {"redrivePermission": "byQueue", "sourceQueueArns": [queue.arn]}
        if not dlq.exists:
            attributes = self._queue_attributes(spec, fifo)
            attributes["RedriveAllowPolicy"] = json.dumps(allow)
            return [
                Change(
                    resource,
                    "create",
                    f"{_kind(fifo)}, accepts dead letters of sqs:{queue.name}",
                    self._creator(dlq.name, attributes, spec.tags),
                )
            ]
        if dlq.fifo != fifo:
            conflicts.append(Conflict(resource, "type", _kind(dlq.fifo), _kind(fifo)))
            return []
        current = _json(dlq.attr("RedriveAllowPolicy")) or {}
        permission = current.get("redrivePermission", "allowAll")
        sources = list(current.get("sourceQueueArns", []))
        if permission == "allowAll" or (permission == "byQueue" and queue.arn in sources):
            return [Change(resource, "unchanged", f"accepts dead letters of sqs:{queue.name}")]
        if permission == "denyAll" or len(sources) >= 10:
            conflicts.append(
                Conflict(resource, "redrive allow policy", permission, f"allow sqs:{queue.name}")
            )
            return []
        updated = json.dumps({"redrivePermission": "byQueue", "sourceQueueArns": [*sources, queue.arn]})
        return [
            Change(
                resource,
                "update",
                f"redrive allow policy adds sqs:{queue.name}",
                self._setter(dlq, {"RedriveAllowPolicy": updated}),
            )
        ]

    def _plan_queue(
        self,
        spec: ChainSpec,
        queue: _Queue,
        dlq: _Queue | None,
        topic_arn: str,
        fifo: bool,
        conflicts: list[Conflict],
    ) -> list[Change]:
        resource = f"queue sqs:{queue.name}"
        redrive = (
            json.dumps({"deadLetterTargetArn": dlq.arn, "maxReceiveCount": spec.max_receive_count})
            if dlq
            else None
        )
        statement = allow_topic_statement(queue.arn, topic_arn)
        if not queue.exists:
            attributes = self._queue_attributes(spec, fifo)
            attributes["Policy"] = merge_statement(None, statement)
            if redrive:
                attributes["RedrivePolicy"] = redrive
            detail = _kind(fifo) + (
                f", DLQ sqs:{dlq.name} after {spec.max_receive_count} receives" if dlq else ""
            )
            return [Change(resource, "create", detail, self._creator(queue.name, attributes, spec.tags))]
        found: list[Conflict] = []
        if queue.fifo != fifo:
            found.append(Conflict(resource, "type", _kind(queue.fifo), _kind(fifo)))
        kms_problem = self._kms_problem(queue.attr("KmsMasterKeyId"))
        if kms_problem:
            found.append(Conflict(resource, "encryption", kms_problem, "a key SNS can use"))
        if spec.kms_key and queue.attr("KmsMasterKeyId") != spec.kms_key:
            found.append(Conflict(resource, "KMS key", queue.attr("KmsMasterKeyId") or "none", spec.kms_key))
        changes: list[Change] = []
        current_redrive = _json(queue.attr("RedrivePolicy"))
        if dlq is not None and current_redrive:
            if current_redrive.get("deadLetterTargetArn") != dlq.arn:
                target = arn_name(str(current_redrive.get("deadLetterTargetArn")))
                found.append(Conflict(resource, "DLQ", f"sqs:{target}", f"sqs:{dlq.name}"))
            elif int(current_redrive.get("maxReceiveCount", 0)) != spec.max_receive_count:
                found.append(
                    Conflict(
                        resource,
                        "maxReceiveCount",
                        str(current_redrive.get("maxReceiveCount")),
                        str(spec.max_receive_count),
                    )
                )
        conflicts += found
        if found:
            return []
        if dlq is not None and redrive and not current_redrive:
            changes.append(
                Change(
                    resource,
                    "update",
                    f"DLQ sqs:{dlq.name} after {spec.max_receive_count} receives",
                    self._setter(queue, {"RedrivePolicy": redrive}),
                )
            )
        else:
            changes.append(Change(resource, "unchanged", _kind(queue.fifo)))
        policy_resource = f"policy sqs:{queue.name}"
        if policy_allows_topic(queue.attr("Policy") or None, queue.arn, topic_arn):
            changes.append(Change(policy_resource, "unchanged", f"allows {spec.topic}"))
        else:
            merged = merge_statement(queue.attr("Policy") or None, statement)
            changes.append(
                Change(
                    policy_resource,
                    "update",
                    f"allow {spec.topic} to send (merged)",
                    self._setter(queue, {"Policy": merged}),
                )
            )
        return changes

    def _plan_subscription(
        self,
        spec: ChainSpec,
        queue_spec: QueueSpec,
        queue: _Queue,
        topic_arn: str,
        existing: dict[str, Any] | None,
        conflicts: list[Conflict],
    ) -> Change:
        resource = f"subscription {spec.topic} -> sqs:{queue.name}"
        detail = ("raw" if queue_spec.raw else "envelope") + (
            f", filter on {queue_spec.filter_scope}" if queue_spec.filter_policy else ""
        )
        if existing is None:
            attributes = {"RawMessageDelivery": str(queue_spec.raw).lower()}
            if queue_spec.filter_policy:
                attributes["FilterPolicy"] = json.dumps(queue_spec.filter_policy)
                attributes["FilterPolicyScope"] = SCOPES[queue_spec.filter_scope]

            def subscribe() -> None:
                with aws_errors(f"cannot subscribe sqs:{queue.name} to {spec.topic}"):
                    self._sns.subscribe(
                        TopicArn=topic_arn,
                        Protocol="sqs",
                        Endpoint=queue.arn,
                        Attributes=attributes,
                        ReturnSubscriptionArn=True,
                    )

            return Change(resource, "create", detail, subscribe)
        attributes = existing.get("Attributes", {})
        raw = attributes.get("RawMessageDelivery", "false").lower() == "true"
        if raw != queue_spec.raw:
            conflicts.append(Conflict(resource, "raw delivery", _on(raw), _on(queue_spec.raw)))
        current_filter = _json(attributes.get("FilterPolicy"))
        if (current_filter or None) != queue_spec.filter_policy:
            conflicts.append(
                Conflict(
                    resource,
                    "filter policy",
                    json.dumps(current_filter) if current_filter else "none",
                    json.dumps(queue_spec.filter_policy) if queue_spec.filter_policy else "none",
                )
            )
        elif queue_spec.filter_policy:
            scope = attributes.get("FilterPolicyScope", "MessageAttributes")
            if scope != SCOPES[queue_spec.filter_scope]:
                conflicts.append(Conflict(resource, "filter scope", scope, SCOPES[queue_spec.filter_scope]))
        return Change(resource, "unchanged", detail)

    def _queue_attributes(self, spec: ChainSpec, fifo: bool) -> dict[str, str]:
        attributes: dict[str, str] = {}
        if fifo:
            attributes["FifoQueue"] = "true"
        if spec.kms_key:
            attributes["KmsMasterKeyId"] = spec.kms_key
        return attributes

    def _creator(self, name: str, attributes: dict[str, str], tags: tuple[tuple[str, str], ...]) -> Any:
        def create() -> None:
            with aws_errors(f"cannot create queue {name}"):
                self._sqs.create_queue(QueueName=name, Attributes=attributes, tags=dict(tags))

        return create

    def _setter(self, queue: _Queue, attributes: dict[str, str]) -> Any:
        def update() -> None:
            with aws_errors(f"cannot update queue {queue.name}"):
                self._sqs.set_queue_attributes(QueueUrl=queue.url, Attributes=attributes)

        return update

    # Showing and checking --------------------------------------------------------------------------------

    def show(self, topic: Channel) -> ChainTree:
        topic_arn = self._clients.arn("sns", topic.name)
        attributes = self._topic_attributes(topic_arn)
        if attributes is None:
            raise NotFoundError(f"topic {topic} not found")
        fifo = attributes.get("FifoTopic", "false").lower() == "true"
        tree = ChainTree(topic=str(topic), exists=True, fifo=fifo)
        for sub in self._subscriptions(topic_arn):
            tree.links.append(self._link(topic, topic_arn, fifo, sub))
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
            filter_policy=_json(attributes.get("FilterPolicy")),
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

    def _inspect_dlq(self, link: Link, queue: _Queue) -> None:
        redrive = _json(queue.attr("RedrivePolicy"))
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
        results: list[ProbeResult] = []
        waiting: dict[str, _Queue] = {}
        for link in tree.links:
            if link.protocol != "sqs" or link.channel is None or link.foreign:
                continue
            if not link.exists:
                results.append(ProbeResult(link.channel, "missing", "queue does not exist"))
            elif link.filter_policy and _rejects(link, message):
                results.append(ProbeResult(link.channel, "filtered", "its filter policy rejects the canary"))
            else:
                waiting[link.channel] = self._queue(link.channel.split(":", 1)[1])
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
        self, waiting: dict[str, _Queue], canary: str, timeout_s: float
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
        with aws_errors(f"cannot receive from {channel}"):
            return list(
                self._sqs.receive_message(
                    QueueUrl=url,
                    MaxNumberOfMessages=10,
                    WaitTimeSeconds=LONG_POLL_S,
                    VisibilityTimeout=hold_s,
                    AttributeNames=["ApproximateReceiveCount"],
                    MessageAttributeNames=["All"],
                ).get("Messages", [])
            )

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

    # Deleting --------------------------------------------------------------------------------------------

    def plan_delete(self, topic: Channel, with_queues: bool) -> list[Change]:
        tree = self.show(topic)
        topic_arn = self._clients.arn("sns", topic.name)
        changes: list[Change] = []
        for link in tree.links:
            if link.subscription and link.subscription.startswith("arn:"):
                changes.append(
                    Change(
                        f"subscription {topic} -> {link.channel or link.endpoint}",
                        "delete",
                        link.protocol,
                        self._unsubscriber(link.subscription),
                    )
                )
            if link.protocol != "sqs" or not link.exists or link.channel is None or link.foreign:
                continue
            queue = self._queue(link.channel.split(":", 1)[1])
            if with_queues:
                changes.append(
                    Change(
                        f"queue {link.channel}", "delete", f"{link.depth or 0} messages", self._deleter(queue)
                    )
                )
                if link.dlq and link.dlq == f"sqs:{dlq_name(queue.name)}" and link.dlq_depth is not None:
                    dlq = self._queue(dlq_name(queue.name))
                    changes.append(
                        Change(f"dlq {link.dlq}", "delete", f"{link.dlq_depth} messages", self._deleter(dlq))
                    )
            else:
                sid = allow_topic_statement(queue.arn, topic_arn)["Sid"]
                policy = remove_statement(queue.attr("Policy") or None, sid)
                if policy != (queue.attr("Policy") or None):
                    changes.append(
                        Change(
                            f"policy {link.channel}",
                            "update",
                            f"remove the grant to {topic}",
                            self._setter(queue, {"Policy": policy or ""}),
                        )
                    )
        changes.append(
            Change(
                f"topic {topic}", "delete", f"{len(tree.links)} subscriptions", self._topic_deleter(topic_arn)
            )
        )
        return changes

    def plan_prune(self, spec: ChainSpec) -> list[Change]:
        """Unsubscribe what the topic feeds besides the spec's queues (other protocols included)."""
        topic_arn = self._clients.arn("sns", spec.topic.name)
        if self._topic_attributes(topic_arn) is None:
            return []
        wanted = {self._clients.arn("sqs", q.channel.name) for q in spec.queues}
        return [
            Change(
                f"subscription {spec.topic} -> {sub.get('Endpoint')}",
                "delete",
                "not in the file",
                self._unsubscriber(sub["SubscriptionArn"]),
            )
            for sub in self._subscriptions(topic_arn)
            if sub.get("Endpoint") not in wanted and str(sub.get("SubscriptionArn", "")).startswith("arn:")
        ]

    def _unsubscriber(self, subscription_arn: str) -> Any:
        def unsubscribe() -> None:
            with aws_errors("cannot unsubscribe"):
                self._sns.unsubscribe(SubscriptionArn=subscription_arn)

        return unsubscribe

    def _deleter(self, queue: _Queue) -> Any:
        def delete() -> None:
            with aws_errors(f"cannot delete queue {queue.name}"):
                self._sqs.delete_queue(QueueUrl=queue.url)

        return delete

    def _topic_deleter(self, topic_arn: str) -> Any:
        def delete() -> None:
            with aws_errors(f"cannot delete topic {arn_name(topic_arn)}"):
                self._sns.delete_topic(TopicArn=topic_arn)

        return delete


def _refuse_receives_toward_the_dlq(queues: dict[str, _Queue]) -> None:
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


def _near_dlq(queues: dict[str, _Queue], counts: dict[str, dict[str, int]]) -> dict[str, str]:
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
    envelope = _json(message.get("Body"))  # without raw delivery the attributes are inside the SNS envelope
    if not envelope:
        return False
    value = envelope.get("MessageAttributes", {}).get(CANARY_ATTRIBUTE, {}).get("Value")
    return bool(value == canary)


def _json(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _kind(fifo: bool) -> str:
    return "FIFO" if fifo else "standard"


def _on(flag: bool) -> str:
    return "on" if flag else "off"


def _int(value: str) -> int | None:
    return int(value) if value.isdigit() else None


def _tag_change(
    resource: str, current: dict[str, str], wanted: dict[str, str], tag: Callable[[dict[str, str]], None]
) -> Change:
    """Set the tags asked for that are missing or differ; tags not asked for are left as they are."""
    changed = {k: v for k, v in wanted.items() if current.get(k) != v}
    if not changed:
        return Change(resource, "unchanged", ", ".join(f"{k}={v}" for k, v in wanted.items()))
    detail = ", ".join(
        f"{k}={v}" + (f" (was {current[k]})" if k in current else "") for k, v in changed.items()
    )
    return Change(resource, "update", detail, lambda: tag(changed))
