"""Topic-queue chains: the desired state, the plan that reaches it, and the checks that prove it delivers.

The broker-specific parts (reading what exists, creating it, probing it) live in a ``ChainBackend``;
everything here is broker-agnostic.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from msgctl.address import Channel
from msgctl.errors import ExitCode, MsgctlError, UsageError
from msgctl.filter.engine import Scope

Action = Literal["create", "update", "delete", "unchanged"]
Status = Literal["planned", "applied", "failed", "not run"]
DEFAULT_MAX_RECEIVE_COUNT = 5


@dataclass(frozen=True)
class QueueSpec:
    channel: Channel
    filter_policy: dict[str, Any] | None = None
    filter_scope: Scope = "attributes"
    raw: bool = True


@dataclass(frozen=True)
class ChainSpec:
    topic: Channel
    queues: tuple[QueueSpec, ...]
    fifo: bool = False
    dlq: bool = True
    max_receive_count: int = DEFAULT_MAX_RECEIVE_COUNT
    content_based_dedup: bool = False
    kms_key: str | None = None
    tags: tuple[tuple[str, str], ...] = ()


@dataclass
class Change:
    """One row of a plan; ``run`` makes the change, ``status`` says whether it was made."""

    resource: str
    action: Action
    detail: str = ""
    run: Callable[[], None] | None = field(default=None, repr=False, compare=False)
    status: Status = "planned"

    def to_json(self) -> dict[str, Any]:
        return {
            "resource": self.resource,
            "action": self.action,
            "detail": self.detail,
            "status": None if self.action == "unchanged" else self.status,
        }


@dataclass(frozen=True)
class Conflict:
    resource: str
    field: str
    existing: str
    wanted: str

    def __str__(self) -> str:
        return f"{self.resource}: {self.field} is {self.existing}, asked {self.wanted}"


class ConflictError(UsageError):
    """Existing resources differ from the spec in ways msgctl will not change; nothing was changed."""

    def __init__(self, conflicts: list[Conflict]) -> None:
        super().__init__("; ".join(str(c) for c in conflicts) + "; nothing changed")
        self.conflicts = conflicts


class ApplyError(MsgctlError):
    """A change failed part-way; ``changes`` says which were applied before it."""

    def __init__(self, cause: MsgctlError, changes: list[Change]) -> None:
        super().__init__(cause.message, cause.code)
        self.exit_code = cause.exit_code
        self.changes = changes


@dataclass(frozen=True)
class ChainPlan:
    changes: list[Change]

    @property
    def pending(self) -> list[Change]:
        return [c for c in self.changes if c.action != "unchanged"]


@dataclass
class Link:
    """One subscription of a chain's topic and what it delivers to."""

    endpoint: str
    protocol: str = "sqs"
    channel: str | None = None
    subscription: str | None = None
    raw: bool | None = None
    filter_policy: dict[str, Any] | None = None
    filter_scope: Scope = "attributes"
    pending_confirmation: bool = False
    exists: bool = True
    foreign: bool = False  # a queue in another account or region: not inspected, probed or deleted
    fifo: bool | None = None
    depth: int | None = None
    in_flight: int | None = None
    consumers: int | None = None
    dlq: str | None = None
    dlq_depth: int | None = None
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "protocol": self.protocol,
            "endpoint": self.endpoint,
            "subscription": self.subscription,
            "raw": self.raw,
            "filter_policy": self.filter_policy,
            "filter_scope": self.filter_scope,
            "pending_confirmation": self.pending_confirmation,
            "queue": {
                "exists": self.exists,
                "fifo": self.fifo,
                "depth": self.depth,
                "in_flight": self.in_flight,
                "consumers": self.consumers,
                "dlq": self.dlq,
                "dlq_depth": self.dlq_depth,
            },
            "problems": self.problems,
            "warnings": self.warnings,
        }


@dataclass
class ChainTree:
    topic: str
    exists: bool
    fifo: bool
    links: list[Link] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def broken(self) -> list[tuple[str, str]]:
        """(where, why) for every broken link, the topic's own problems first."""
        found = [(self.topic, p) for p in self.problems]
        return found + [(link.channel or link.endpoint, p) for link in self.links for p in link.problems]

    def to_json(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "exists": self.exists,
            "fifo": self.fifo,
            "problems": self.problems,
            "subscriptions": [link.to_json() for link in self.links],
        }


ProbeOutcome = Literal["delivered", "filtered", "missing"]


@dataclass(frozen=True)
class ProbeResult:
    channel: str
    outcome: ProbeOutcome
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"channel": self.channel, "outcome": self.outcome, "detail": self.detail}


@dataclass(frozen=True)
class CheckRow:
    """One line of a check: a link that is ``broken``, a probe's outcome, or ``ok`` when neither applies."""

    channel: str
    result: Literal["ok", "broken", "delivered", "filtered", "missing"]
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"channel": self.channel, "result": self.result, "detail": self.detail}


@dataclass(frozen=True)
class ChainCheck:
    """What a check found: the static checks of the tree and, when probed, where the canary came."""

    tree: ChainTree
    probes: list[ProbeResult] = field(default_factory=list)

    @property
    def rows(self) -> list[CheckRow]:
        rows = [CheckRow(where, "broken", why) for where, why in self.tree.broken]
        rows += [CheckRow(p.channel, p.outcome, p.detail) for p in self.probes]
        return rows or [CheckRow(link.channel or link.endpoint, "ok") for link in self.tree.links]

    @property
    def unreachable(self) -> list[str]:
        """The channels the topic does not reach: broken links and queues the canary did not come to."""
        return sorted({row.channel for row in self.rows if row.result in ("broken", "missing")})

    @property
    def exit_code(self) -> ExitCode:
        if self.tree.broken or any(p.outcome == "missing" for p in self.probes):
            return ExitCode.PARTIAL
        return ExitCode.OK


class ChainBackend(Protocol):
    def validate(self, spec: ChainSpec) -> None: ...

    def plan(self, spec: ChainSpec) -> tuple[list[Change], list[Conflict]]: ...

    def show(self, topic: Channel) -> ChainTree: ...

    def probe(self, tree: ChainTree, timeout_s: float, force: bool = False) -> list[ProbeResult]:
        """Send a canary through the topic; ``force``: also where looking for it may push other messages
        toward the DLQ."""
        ...

    def plan_delete(self, topic: Channel, with_queues: bool) -> list[Change]: ...

    def plan_prune(self, spec: ChainSpec) -> list[Change]: ...


def plan_chain(backend: ChainBackend, spec: ChainSpec) -> ChainPlan:
    """Read what exists and plan what is missing; raise ConflictError (exit 2) on any conflict."""
    validate_spec(spec)
    backend.validate(spec)
    changes, conflicts = backend.plan(spec)
    if conflicts:
        raise ConflictError(conflicts)
    return ChainPlan(changes)


def apply_plan(plan: ChainPlan, on_change: Callable[[Change], None] = lambda _: None) -> ChainPlan:
    """Run each pending change in order; on a failure raise ApplyError saying what was already done."""
    pending = plan.pending
    for index, change in enumerate(pending):
        try:
            if change.run is not None:
                change.run()
        except Exception as exc:  # any failure: say what was applied before it
            change.status = "failed"
            for later in pending[index + 1 :]:
                later.status = "not run"
            cause = exc if isinstance(exc, MsgctlError) else MsgctlError(f"{change.resource}: {exc}")
            raise ApplyError(cause, plan.changes) from exc
        change.status = "applied"
        on_change(change)
    return plan


def apply_plans(steps: Iterable[Callable[[], ChainPlan]], dry_run: bool = False) -> ChainPlan:
    """Plan and apply one step after the other (a later chain may share a queue with an earlier one); return
    every step's rows. On a failure after some rows, raise ApplyError holding all of them (status column)."""
    shown: list[Change] = []
    try:
        for make_plan in steps:
            plan = make_plan()
            shown += plan.changes
            if not dry_run and plan.pending:
                apply_plan(plan)
    except MsgctlError as exc:
        if not shown:
            raise
        raise ApplyError(exc, shown) from exc
    return ChainPlan(shown)


def validate_spec(spec: ChainSpec) -> None:
    if not spec.queues:
        raise UsageError("a chain needs at least one queue")
    if spec.topic.kind != "topic":
        raise UsageError(f"{spec.topic} is not a topic")
    for queue in spec.queues:
        if queue.channel.kind != "queue":
            raise UsageError(f"{queue.channel} is not a queue")
        if queue.channel.service == "sns" or (queue.channel.service == "amq") != (
            spec.topic.service == "amq"
        ):
            raise UsageError(f"{spec.topic} cannot deliver to {queue.channel}: a chain stays on one broker")
    names = [str(q.channel) for q in spec.queues]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise UsageError(f"queue given twice: {', '.join(duplicates)}")
    if not 1 <= spec.max_receive_count <= 1000:
        raise UsageError("--max-receive-count must be between 1 and 1000")


def dlq_name(queue_name: str) -> str:
    """``orders`` -> ``orders-dlq``; ``orders.fifo`` -> ``orders-dlq.fifo``."""
    if queue_name.endswith(".fifo"):
        return f"{queue_name[: -len('.fifo')]}-dlq.fifo"
    return f"{queue_name}-dlq"
