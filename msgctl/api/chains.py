"""``Client.chains``: topic-queue chains (SNS topic -> SQS queues, ActiveMQ virtual topic -> consumer queues)
built whole, shown, proved to deliver and deleted.

Every call that changes something returns a ``ChainPlan``: one ``Change`` per resource, its ``status`` saying
whether it was applied. A call that fails part-way raises ``ApplyError``, whose ``changes`` say what was
applied before the failure; a conflict with what exists raises ``ConflictError`` before anything changes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from msgctl.address import Channel
from msgctl.api.convert import ChannelLike, Confirm, channel_of, go_ahead, policy_of
from msgctl.backends.registry import Backends
from msgctl.core.chain_file import load_chain_file
from msgctl.core.chains import (
    DEFAULT_MAX_RECEIVE_COUNT,
    ChainCheck,
    ChainPlan,
    ChainSpec,
    ChainTree,
    Change,
    QueueSpec,
    apply_plans,
    plan_chain,
)
from msgctl.errors import UsageError
from msgctl.filter.engine import Scope


class Chains:
    def __init__(self, backends: Backends, warn: Callable[[str], None]) -> None:
        self.backends, self.warn = backends, warn

    def create(
        self,
        topic: ChannelLike,
        queues: Iterable[ChannelLike],
        *,
        fifo: bool = False,
        dlq: bool = True,
        max_receive_count: int = DEFAULT_MAX_RECEIVE_COUNT,
        raw: bool = True,
        filter_policy: Mapping[str, Any] | str | None = None,
        filter_scope: Scope = "attributes",
        content_based_dedup: bool = False,
        kms_key: str | None = None,
        tags: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        dry_run: bool = False,
    ) -> ChainPlan:
        """Create what is missing of a chain: topic, queues, DLQs (``NAME-dlq``), queue policies and
        subscriptions, each queue with ``filter_policy`` (a dict or JSON text). Idempotent."""
        compiled = policy_of(filter_policy, filter_scope)  # parsed and linted before anything is created
        policy = compiled.policy if compiled is not None else None
        spec = ChainSpec(
            topic=channel_of(topic),
            queues=tuple(QueueSpec(channel_of(q), policy, filter_scope, raw) for q in queues),
            fifo=fifo,
            dlq=dlq,
            max_receive_count=max_receive_count,
            content_based_dedup=content_based_dedup,
            kms_key=kms_key,
            tags=tuple(tags.items() if isinstance(tags, Mapping) else tags or ()),
        )
        return apply_plans([_given(self.plan(spec))], dry_run)

    def plan(self, spec: ChainSpec) -> ChainPlan:
        """What creating ``spec`` would change, changing nothing; ConflictError (exit 2) on any conflict."""
        return plan_chain(self.backends.chains_for(spec.topic), spec)

    def apply(
        self,
        chains: str | Path | Sequence[ChainSpec],
        *,
        prune: bool = False,
        dry_run: bool = False,
        confirm_prune: Confirm | None = None,
    ) -> ChainPlan:
        """Create or complete every chain of a TOML or YAML file (or of the specs given), with the planner of
        ``create``; ``prune``: unsubscribe what these topics feed that the chains do not list."""
        specs = load_chain_file(Path(chains)) if isinstance(chains, str | Path) else list(chains)
        # Every chain is planned (conflicts checked) before anything changes ...
        first = [self.plan(spec) for spec in specs]
        pruned = ChainPlan([c for spec in specs for c in self._prune(spec)] if prune else [])
        if pruned.changes and not dry_run:
            go_ahead(confirm_prune, f"remove {len(pruned.changes)} subscriptions?", "pruning")
        # ... then each is planned again just before it is applied, seeing what the chains before it did.
        steps = [
            _given(plan) if index == 0 or dry_run else self._replanned(spec)
            for index, (spec, plan) in enumerate(zip(specs, first, strict=True))
        ]
        return apply_plans([*steps, _given(pruned)], dry_run)

    def show(self, topic: ChannelLike) -> ChainTree:
        """The chain as a tree: topic -> subscriptions -> queues and their DLQs, broken links flagged."""
        address = _topic(topic)
        return self.backends.chains_for(address).show(address)

    def check(
        self, topic: ChannelLike, *, probe: bool = False, timeout: float = 20.0, force: bool = False
    ) -> ChainCheck:
        """The static checks of ``show`` and, with ``probe``, a canary published through the topic and taken
        back from every queue (SQS: other messages are received once and released; ``force`` also probes a
        queue where that would leave messages one receive from the DLQ)."""
        address = _topic(topic)
        backend = self.backends.chains_for(address)
        tree = backend.show(address)
        return ChainCheck(tree, backend.probe(tree, timeout, force) if probe else [])

    def delete(
        self,
        topic: ChannelLike,
        *,
        with_queues: bool = False,
        dry_run: bool = False,
        confirm: Confirm | None = None,
        on_plan: Callable[[ChainPlan], None] | None = None,
    ) -> ChainPlan:
        """Delete a chain's subscriptions and topic (``with_queues``: its queues and DLQs, messages included;
        otherwise the grant msgctl put in the queues' policies is removed). Unless ``dry_run``, ``on_plan``
        sees what will be deleted, then ``confirm(question)`` is asked; False deletes nothing."""
        address = _topic(topic)
        plan = ChainPlan(self.backends.chains_for(address).plan_delete(address, with_queues))
        if not dry_run:
            if on_plan is not None:
                on_plan(plan)
            go_ahead(confirm, f"delete {len(plan.pending)} resources?", "deleting")
        return apply_plans([_given(plan)], dry_run)

    def _prune(self, spec: ChainSpec) -> list[Change]:
        return self.backends.chains_for(spec.topic).plan_prune(spec)

    def _replanned(self, spec: ChainSpec) -> Callable[[], ChainPlan]:
        return lambda: self.plan(spec)


def _given(plan: ChainPlan) -> Callable[[], ChainPlan]:
    return lambda: plan


def _topic(topic: ChannelLike) -> Channel:
    channel = channel_of(topic)
    if channel.kind != "topic":
        raise UsageError(f"{channel} is not a topic")
    return channel
