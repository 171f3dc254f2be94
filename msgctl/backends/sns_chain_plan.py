"""SNS topic -> SQS queue chains: read what exists and plan what is missing (each change runs later)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from msgctl.backends.aws import arn_name, aws_errors
from msgctl.backends.sns_chain_base import ChainQueue, SnsChainBase, json_object
from msgctl.core.chains import (
    ChainSpec,
    Change,
    Conflict,
    QueueSpec,
    dlq_name,
)
from msgctl.core.queue_policy import allow_topic_statement, merge_statement, policy_allows_topic
from msgctl.errors import UsageError

SCOPES = {"attributes": "MessageAttributes", "body": "MessageBody"}


class SnsChainPlanner(SnsChainBase):
    """One Change per resource of the spec (created, updated or unchanged) and a Conflict per field that
    differs in a way msgctl will not change."""

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

    def _plan_queue_tags(self, spec: ChainSpec, queue: ChainQueue) -> Change:
        with aws_errors(f"cannot read the tags of sqs:{queue.name}"):
            current = dict(self._sqs.list_queue_tags(QueueUrl=queue.url).get("Tags", {}))

        def tag(changed: dict[str, str]) -> None:
            with aws_errors(f"cannot tag sqs:{queue.name}"):
                self._sqs.tag_queue(QueueUrl=queue.url, Tags=changed)

        return _tag_change(f"tags sqs:{queue.name}", current, dict(spec.tags), tag)

    def _plan_dlq(
        self, spec: ChainSpec, dlq: ChainQueue, queue: ChainQueue, fifo: bool, conflicts: list[Conflict]
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
        current = json_object(dlq.attr("RedriveAllowPolicy")) or {}
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
        queue: ChainQueue,
        dlq: ChainQueue | None,
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
        current_redrive = json_object(queue.attr("RedrivePolicy"))
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
        queue: ChainQueue,
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
        current_filter = json_object(attributes.get("FilterPolicy"))
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


def _kind(fifo: bool) -> str:
    return "FIFO" if fifo else "standard"


def _on(flag: bool) -> str:
    return "on" if flag else "off"


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
