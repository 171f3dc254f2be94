"""Deleting an SNS topic -> SQS queue chain (or pruning the subscriptions a chain file does not list)."""

from __future__ import annotations

from typing import Any

from msgctl.address import Channel
from msgctl.backends.aws import arn_name, aws_errors
from msgctl.backends.sns_chain_base import ChainQueue
from msgctl.backends.sns_chain_show import SnsChainInspector
from msgctl.core.chains import ChainSpec, Change, dlq_name
from msgctl.core.queue_policy import allow_topic_statement, remove_statement


class SnsChainDeleter(SnsChainInspector):
    """Deletion reads the chain as show does, then plans one change per subscription, queue or grant."""

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

    def _deleter(self, queue: ChainQueue) -> Any:
        def delete() -> None:
            with aws_errors(f"cannot delete queue {queue.name}"):
                self._sqs.delete_queue(QueueUrl=queue.url)

        return delete

    def _topic_deleter(self, topic_arn: str) -> Any:
        def delete() -> None:
            with aws_errors(f"cannot delete topic {arn_name(topic_arn)}"):
                self._sns.delete_topic(TopicArn=topic_arn)

        return delete
