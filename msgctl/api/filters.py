"""``Client.filters``: SNS filter policies linted and tested offline, translated into ActiveMQ selectors, and
attached to (shown on, detached from) SNS subscriptions. Policies are given as a dict or as JSON text."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from msgctl.address import Channel, endpoint_name
from msgctl.api.convert import ChannelLike, channel_of
from msgctl.errors import UsageError
from msgctl.filter.engine import Decision, Message, Problem, Scope
from msgctl.filter.lint import InvalidPolicy, PolicySource, check_policy, parse_policy
from msgctl.filter.messages import attributes_from_json, attributes_from_mapping
from msgctl.filter.scan import ScanResult, scan_source
from msgctl.filter.selector import to_selector

if TYPE_CHECKING:
    from msgctl.backends.registry import Backends
    from msgctl.core.ports import SubscriptionPolicies

APPLY_DELAY = "AWS takes up to 15 minutes to apply a filter policy change everywhere"
# A subscription ARN, or (topic, queue): the topic's subscription that delivers to that queue.
Subscription = str | tuple[ChannelLike, ChannelLike]
Attributes = str | Mapping[str, Any]  # JSON text or a mapping: {"k": "v", "n": 5} or typed {"Type", "Value"}


@dataclass(frozen=True)
class SubscriptionFilter:
    subscription: str
    policy: dict[str, Any] | None
    scope: str | None

    def to_json(self) -> dict[str, Any]:
        return {"subscription": self.subscription, "filter_policy": self.policy, "filter_scope": self.scope}


@dataclass(frozen=True)
class Recipient:
    """Whether one subscription of a topic would receive a message, and why."""

    endpoint: str
    protocol: str
    receives: bool
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "protocol": self.protocol,
            "receives": self.receives,
            "reason": self.reason,
        }


class Filters:
    """lint, decide, test and to_selector work offline (static: ``Filters.lint(...)`` needs no Client);
    attach, show, detach and which talk to SNS."""

    def __init__(self, backends: Backends, warn: Callable[[str], None]) -> None:
        self.backends, self.warn = backends, warn

    @staticmethod
    def lint(policy: PolicySource, scope: Scope = "attributes") -> list[Problem]:
        """Every way the policy breaks AWS's constraints, each with its JSON path; empty when it is valid."""
        return check_policy(policy, scope)[1]

    @staticmethod
    def decide(
        policy: PolicySource,
        body: str = "",
        attributes: Attributes | None = None,
        scope: Scope = "attributes",
    ) -> Decision:
        """Would SNS deliver this one message? ``.match``, and for no match the key that failed and why."""
        compiled = parse_policy(policy, scope)
        return compiled.decide(Message(body=body, attributes=_attributes(attributes)))

    @staticmethod
    def test(
        policy: PolicySource,
        source: str | os.PathLike[str] | Iterable[Any],
        scope: Scope = "attributes",
        *,
        invert: bool = False,
        keep_matches: bool = True,
        on_match: Callable[[Any], object] | None = None,
    ) -> ScanResult:
        """The envelopes of ``source`` the policy matches (inverted: does not), like grep: ``.matched`` and
        ``.matches``. ``source``: a path, NDJSON text (a str that is blank or begins with "{"), an
        iterable of NDJSON lines, or of Envelopes and envelope dicts. ``on_match`` sees each match as it is
        found (``keep_matches=False`` keeps none in ``.matches``)."""
        return scan_source(parse_policy(policy, scope), source, invert, keep_matches, on_match)

    def test_payloads(
        self,
        policy: PolicySource,
        source: str | os.PathLike[str] | Iterable[Any],
        scope: Scope = "body",
        *,
        payloads: str | None = None,
        invert: bool = False,
        keep_matches: bool = True,
        on_match: Callable[[Any], object] | None = None,
    ) -> ScanResult:
        """``test`` for captures of extended-client messages: a body-scope policy judges each pointer by
        its S3 payload (``payloads="resolve"``, the default for body scope), read with this client's AWS
        session. An item whose payload cannot be read matches nothing, either way, and is named in
        ``.unresolved``. Items come back as given (a pointer stays a pointer)."""
        from msgctl.core.payloads import Resolver, chosen_mode
        from msgctl.filter.scan import ResolvingPolicy

        compiled = parse_policy(policy, scope)
        if chosen_mode(payloads, compiled) != "resolve" or compiled.scope != "body":
            return scan_source(compiled, source, invert, keep_matches, on_match)
        from msgctl.backends.s3_payloads import S3Payloads

        reading = ResolvingPolicy(compiled, Resolver(S3Payloads(self.backends.aws)))
        return scan_source(reading, source, invert, keep_matches, on_match)

    @staticmethod
    def to_selector(policy: PolicySource) -> str:
        """The JMS SQL92 selector equivalent to an attribute-scope policy (ActiveMQ consumers); what has no
        equivalent raises NoSelectorEquivalent naming the operator and its JSON path."""
        return to_selector(parse_policy(policy, "attributes").policy)

    def attach(
        self, subscription: Subscription, policy: PolicySource, scope: Scope = "attributes"
    ) -> SubscriptionFilter:
        """Lint the policy, then set it on the subscription: an invalid policy never reaches AWS."""
        compiled = parse_policy(policy, scope)
        sns = self.backends.subscription_policies()
        arn = _subscription_arn(sns, subscription)
        sns.set_subscription_filter(arn, compiled.policy, compiled.scope)
        return SubscriptionFilter(arn, compiled.policy, compiled.scope)

    def show(self, subscription: Subscription) -> SubscriptionFilter:
        """The subscription's filter policy (None when it has none) and its scope."""
        sns = self.backends.subscription_policies()
        arn = _subscription_arn(sns, subscription)
        policy, scope = sns.subscription_filter(arn)
        return SubscriptionFilter(arn, policy, scope)

    def detach(self, subscription: Subscription) -> SubscriptionFilter:
        """Remove the subscription's filter policy: it receives every message again."""
        sns = self.backends.subscription_policies()
        arn = _subscription_arn(sns, subscription)
        sns.set_subscription_filter(arn, None, "attributes")
        return SubscriptionFilter(arn, None, None)

    def which(
        self, topic: ChannelLike, body: str = "", attributes: Attributes | None = None
    ) -> list[Recipient]:
        """Each subscription of the topic, and whether it would receive this message."""
        sample = Message(body=body, attributes=_attributes(attributes))
        sns = self.backends.subscription_policies()
        return [_recipient(sub, sample) for sub in sns.topic_subscriptions(_topic(topic))]


def _recipient(subscription: dict[str, Any], sample: Message) -> Recipient:
    reason = None
    policy = subscription["filter_policy"]
    if policy is not None:
        scope: Scope = "body" if subscription["filter_scope"] == "body" else "attributes"
        try:
            reason = parse_policy(policy, scope).decide(sample).reason
        except InvalidPolicy as exc:
            reason = f"its policy is invalid here: {exc.message}"
    return Recipient(
        endpoint=endpoint_name(subscription["protocol"], subscription["endpoint"]),
        protocol=subscription["protocol"],
        receives=reason is None,
        reason=reason or ("no filter policy" if policy is None else "matches"),
    )


def _attributes(attributes: Attributes | None) -> dict[str, Any]:
    if not attributes:
        return {}
    if isinstance(attributes, str):
        return attributes_from_json(attributes)
    return attributes_from_mapping(attributes)


def _subscription_arn(sns: SubscriptionPolicies, subscription: Subscription) -> str:
    if isinstance(subscription, str):
        return subscription
    topic, queue = subscription
    return sns.find_subscription(_topic(topic), channel_of(queue))


def _topic(topic: ChannelLike) -> Channel:
    channel = channel_of(topic)
    if channel.service != "sns":
        raise UsageError(f"{channel} is not an SNS topic")
    return channel
