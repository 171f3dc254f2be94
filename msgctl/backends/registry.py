"""Opens the backend a channel needs, once per run, importing its client library only then."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from msgctl.address import Channel, Service
from msgctl.broker import BrokerTarget, resolve_broker
from msgctl.config import Settings
from msgctl.core.ports import Backend, SubscriptionPolicies
from msgctl.errors import UsageError

if TYPE_CHECKING:
    from msgctl.backends.aws import AwsClients
    from msgctl.core.chains import ChainBackend
    from msgctl.core.tail import TailOptions, TailSource


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
            from msgctl.backends.activemq import ActiveMqBackend
            from msgctl.backends.activemq_chains import ActiveMqChainBackend

            backend = self.for_channel(topic)
            assert isinstance(backend, ActiveMqBackend)
            return ActiveMqChainBackend(backend)
        from msgctl.backends.sns_chains import SnsChainBackend

        return SnsChainBackend(self.aws)

    def tail_source(self, channel: Channel, options: TailOptions) -> TailSource:
        """What tail reads: an SQS snapshot, an SNS ephemeral queue, an ActiveMQ browse or subscription."""
        backend = self.for_channel(channel)
        if channel.service == "amq":
            from msgctl.backends.activemq import ActiveMqBackend
            from msgctl.backends.activemq_tail import ActiveMqQueueTail, ActiveMqTopicTail

            assert isinstance(backend, ActiveMqBackend)
            tail_class = ActiveMqQueueTail if channel.kind == "queue" else ActiveMqTopicTail
            return tail_class(backend, channel, options)
        from msgctl.backends.sns import SnsBackend
        from msgctl.backends.sqs import SqsBackend
        from msgctl.backends.sqs_tail import SnsTail, SqsSnapshot

        if isinstance(backend, SnsBackend):
            return SnsTail(self.aws, backend, channel, options)
        assert isinstance(backend, SqsBackend)
        return SqsSnapshot(backend, channel, options)

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

    def subscription_policies(self) -> SubscriptionPolicies:
        """Where subscription filter policies are read and set: SNS's subscriptions."""
        backend = self.for_service("sns")
        if not isinstance(backend, SubscriptionPolicies):
            raise UsageError("sns: subscription filter policies are not supported by this backend")
        return backend
