"""Opens the backend a channel needs, once per run, importing its client library only then."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from msgctl.address import Channel, Service
from msgctl.broker import BrokerTarget, resolve_broker
from msgctl.config import Settings
from msgctl.core.ports import Backend, SubscriptionPolicies
from msgctl.errors import MsgctlError, UsageError

T = TypeVar("T")

if TYPE_CHECKING:
    from msgctl.backends.activemq import ActiveMqBackend
    from msgctl.backends.activemq_redrive import ActiveMqRedrive
    from msgctl.backends.aws import AwsClients
    from msgctl.backends.sns import SnsBackend
    from msgctl.backends.sqs import SqsBackend
    from msgctl.backends.sqs_redrive import NativeMove, SqsDeadLetters
    from msgctl.core.chains import ChainBackend
    from msgctl.core.fifo_lag import LagSource
    from msgctl.core.journal import Journal
    from msgctl.core.outbound import OutboundTarget
    from msgctl.core.tail import TailOptions, TailSource
    from msgctl.core.transform import Repairer


def no_native_move(dlq: Channel) -> UsageError:
    """Only SQS has a server-side move task (StartMessageMoveTask)."""
    no_task = "native redrive is not supported (a broker has no move task)"
    return UsageError(f"{dlq.service}: {no_task}: use --engine client")


BackendFactory = Callable[["Backends", str | None], Backend]
# Backends registered by name (``register_backend``) win over the built-in ones: a fake broker for tests
# that need no server, or a third broker shipped outside msgctl.
_FACTORIES: dict[str, BackendFactory] = {}


def register_backend(service: str, factory: BackendFactory) -> Callable[[], None]:
    """Route ``service`` channels to ``factory(backends, broker_profile)``; returns the undo."""
    previous = _FACTORIES.get(service)
    _FACTORIES[service] = factory

    def unregister() -> None:
        if previous is None:
            _FACTORIES.pop(service, None)
        else:
            _FACTORIES[service] = previous

    return unregister


class Backends:
    def __init__(self, settings: Settings, warn: Callable[[str], None] = lambda _: None) -> None:
        self.settings, self.warn = settings, warn
        self._open: dict[tuple[str, str | None], Backend] = {}
        self._aws: AwsClients | None = None
        self._targets: list[BrokerTarget] = []

    @property
    def aws(self) -> AwsClients:
        if self._aws is None:
            from msgctl.backends.aws import AwsClients

            self._aws = AwsClients(self.settings)
        return self._aws

    @property
    def broker_configured(self) -> bool:
        return bool(self.settings.broker or self.settings.config.default_broker)

    def for_channel(self, channel: Channel) -> Backend:
        return self.for_service(channel.service, channel.broker_profile)

    def for_service(self, service: Service, broker_profile: str | None = None) -> Backend:
        key = (service, broker_profile)
        if key not in self._open:
            self._open[key] = self._create(service, broker_profile)
        return self._open[key]

    def _create(self, service: Service, broker_profile: str | None) -> Backend:
        if service in _FACTORIES:
            return _FACTORIES[service](self, broker_profile)
        if service == "sqs":
            from msgctl.backends.sqs import SqsBackend

            return SqsBackend(self.aws)
        if service == "sns":
            from msgctl.backends.sns import SnsBackend

            return SnsBackend(self.aws)
        from msgctl.backends.activemq import ActiveMqBackend

        return ActiveMqBackend(self.broker_target(broker_profile))

    def chains_for(self, topic: Channel) -> ChainBackend:
        """The chain planner for the broker that holds this topic."""
        if topic.service == "amq":
            from msgctl.backends.activemq_chains import ActiveMqChainBackend

            return ActiveMqChainBackend(self.activemq(topic))
        from msgctl.backends.sns_chains import SnsChainBackend

        return SnsChainBackend(self.aws)

    def tail_source(self, channel: Channel, options: TailOptions) -> TailSource:
        """What tail reads: an SQS snapshot, an SNS ephemeral queue, an ActiveMQ browse or subscription."""
        if channel.service == "amq":
            from msgctl.backends.activemq_tail import ActiveMqQueueTail, ActiveMqTopicTail

            tail_class = ActiveMqQueueTail if channel.kind == "queue" else ActiveMqTopicTail
            return tail_class(self.activemq(channel), channel, options)
        from msgctl.backends.sqs_tail import SnsTail, SqsSnapshot

        if channel.service == "sns":
            return SnsTail(self.aws, self.sns(), channel, options)
        return SqsSnapshot(self.sqs(), channel, options)

    def remove_leftover_tail_queues(self) -> list[str]:
        """The ephemeral queues of SNS tails that ended without cleaning up (older than an hour), deleted."""
        from msgctl.backends.sqs_tail import collect_garbage

        return collect_garbage(self.aws)

    # Typed backends, for the capabilities only one broker has. A backend registered in place of the built-in
    # one (a test's fake) lacks them: that is one clear error, not an attribute error deep in a workflow.

    def sqs(self) -> SqsBackend:
        from msgctl.backends.sqs import SqsBackend

        return self._typed("sqs", SqsBackend, "this needs the SQS API")

    def sns(self) -> SnsBackend:
        from msgctl.backends.sns import SnsBackend

        return self._typed("sns", SnsBackend, "this needs the SNS API")

    def activemq(self, channel: Channel) -> ActiveMqBackend:
        from msgctl.backends.activemq import ActiveMqBackend

        backend = self.for_channel(channel)
        if not isinstance(backend, ActiveMqBackend):
            raise MsgctlError(f"{channel}: this needs an ActiveMQ broker over STOMP")
        return backend

    def _typed(self, service: Service, kind: type[T], need: str) -> T:
        backend = self.for_service(service)
        if not isinstance(backend, kind):
            raise MsgctlError(f"{service}: {need}, and the registered backend does not offer it")
        return backend

    def outbound_target(self, channel: Channel) -> tuple[OutboundTarget, str]:
        """What sends batches to ``channel`` for redrive and replay, and the key its ledger is filed under
        (the queue URL, the topic ARN, or the broker and destination)."""
        if channel.service == "amq":
            from msgctl.backends.activemq_target import ActiveMqTarget

            broker = self.activemq(channel)
            return ActiveMqTarget(broker, channel), f"amq-{broker.target.label}-{channel.kind}-{channel.name}"
        from msgctl.backends.aws_targets import SnsTarget, SqsTarget

        if channel.service == "sns":
            arn = self.sns().topic_arn(channel)
            return SnsTarget(self.aws, arn, channel), arn
        queue = SqsTarget(self.sqs(), channel)
        return queue, queue.url

    def lag_source(
        self,
        channel: Channel,
        sample: int,
        hold_s: int,
        groups: list[str] | None,
        group_property: str | None,
        force: bool,
    ) -> LagSource:
        """What fifo lag measures: an ActiveMQ browse by group, or an SQS FIFO receive sweep."""
        if channel.service == "amq":
            from msgctl.backends.activemq_lag import ActiveMqGroupBrowse

            return ActiveMqGroupBrowse(self.activemq(channel), channel, groups, group_property)
        if channel.service != "sqs":
            raise UsageError(f"{channel} has no message groups: give an SQS FIFO queue or an ActiveMQ queue")
        if group_property:
            raise UsageError("--group-property is for ActiveMQ: SQS reports each message's MessageGroupId")
        from msgctl.backends.sqs_lag import SqsFifoSweep

        return SqsFifoSweep(self.sqs(), channel, sample, hold_s, force)

    def broker_target(self, profile: str | None = None) -> BrokerTarget:
        target = resolve_broker(self.settings, profile, self._amazon_mq_endpoints)
        self._targets.append(target)
        if not target.verify and any(e.ssl for e in target.endpoints):
            self.warn(f"TLS certificates of {target.label} are not verified (--insecure or verify = false)")
        return target

    def _amazon_mq_endpoints(self, name_or_id: str) -> list[str]:
        from msgctl.backends.amazonmq import stomp_endpoints

        return stomp_endpoints(self.aws, name_or_id)

    def secrets(self) -> list[str]:
        """Credentials resolved while talking to brokers, for redaction."""
        found = [t.password for t in self._targets if t.password]
        if self._aws is not None:
            found += self._aws.secrets
        return found

    def close(self) -> None:
        for backend in self._open.values():
            backend.close()
        self._open.clear()

    # Dead letters. SQS: the queues a RedrivePolicy names, a receive-and-delete source for the client-side
    # redrive, and the native move task. ActiveMQ: a mover over STOMP transactions, and no move task.

    def sqs_dead_letter_queues(self, prefix: str | None) -> dict[str, list[str]]:
        """Every SQS queue some RedrivePolicy names, with the queues that name it."""
        from msgctl.backends.sqs_redrive import dead_letter_queues

        return dead_letter_queues(self.sqs(), prefix)

    def dlq_sources(self, dlq: Channel) -> list[str]:
        """The SQS queues whose RedrivePolicy names ``dlq``."""
        from msgctl.backends.sqs_redrive import source_queues

        return source_queues(self.sqs(), dlq)

    def dead_letter_source(self, dlq: Channel) -> SqsDeadLetters:
        from msgctl.backends.sqs_redrive import SqsDeadLetters

        return SqsDeadLetters(self.sqs(), dlq)

    def native_move(self, dlq: Channel) -> NativeMove:
        if dlq.service != "sqs":
            raise no_native_move(dlq)
        from msgctl.backends.sqs_redrive import NativeMove

        return NativeMove(self.sqs(), dlq)

    def activemq_redrive(
        self, dlq: Channel, to: Channel | None, journal: Journal | None, transform: Repairer | None = None
    ) -> ActiveMqRedrive:
        from msgctl.backends.activemq_redrive import ActiveMqRedrive

        return ActiveMqRedrive(self.activemq(dlq), dlq, to, journal, transform)

    def subscription_policies(self) -> SubscriptionPolicies:
        """Where subscription filter policies are read and set: SNS's subscriptions."""
        backend = self.for_service("sns")
        if not isinstance(backend, SubscriptionPolicies):
            raise UsageError("sns: subscription filter policies are not supported by this backend")
        return backend
