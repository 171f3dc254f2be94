"""Topic-queue chains: the desired state, the plan that reaches it, and the checks that prove it delivers.

The broker-specific parts (reading what exists, creating it, probing it) live in a ``ChainBackend``;
everything here is broker-agnostic.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from msgctl.address import Channel
from msgctl.errors import ExitCode, MsgctlError, UsageError
from msgctl.filter.engine import Scope as FilterScope

Action = Literal["create", "update", "delete", "unchanged"]
Status = Literal["planned", "applied", "failed", "not run"]
DEFAULT_MAX_RECEIVE_COUNT = 5


@dataclass(frozen=True)
class QueueSpec:
    channel: Channel
    filter_policy: dict[str, Any] | None = None
    filter_scope: FilterScope = "attributes"
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
class Plan:
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
    filter_scope: FilterScope = "attributes"
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


def plan_chain(backend: ChainBackend, spec: ChainSpec) -> Plan:
    """Read what exists and plan what is missing; raise ConflictError (exit 2) on any conflict."""
    validate_spec(spec)
    backend.validate(spec)
    changes, conflicts = backend.plan(spec)
    if conflicts:
        raise ConflictError(conflicts)
    return Plan(changes)


def apply_plan(plan: Plan, on_change: Callable[[Change], None] = lambda _: None) -> Plan:
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


def check_exit_code(tree: ChainTree, probes: Iterable[ProbeResult]) -> ExitCode:
    if tree.broken or any(p.outcome == "missing" for p in probes):
        return ExitCode.PARTIAL
    return ExitCode.OK


def parse_policy_text(text: str, what: str = "filter policy") -> dict[str, Any]:
    try:
        policy = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{what} is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    if not isinstance(policy, dict) or not policy:
        raise UsageError(f"{what} must be a non-empty JSON object")
    return policy


# Queue policies ----------------------------------------------------------------------------------------

SNS_PRINCIPALS = ("sns.amazonaws.com",)


def allow_topic_statement(queue_arn: str, topic_arn: str) -> dict[str, Any]:
    import hashlib

    digest = hashlib.sha256(topic_arn.encode()).hexdigest()[
        :8
    ]  # names alone collide: orders.fifo, orders-fifo
    return {
        "Sid": f"msgctl-allow-{re.sub(r'[^A-Za-z0-9]', '', topic_arn.rsplit(':', 1)[-1])[:40]}-{digest}",
        "Effect": "Allow",
        "Principal": {"Service": "sns.amazonaws.com"},
        "Action": "sqs:SendMessage",
        "Resource": queue_arn,
        "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
    }


def load_policy(text: str | None) -> dict[str, Any]:
    if not text:
        return {"Version": "2012-10-17", "Statement": []}
    try:
        policy = json.loads(text)
    except json.JSONDecodeError:
        raise MsgctlError("the queue's policy is not valid JSON; fix it by hand first") from None
    statements = policy.get("Statement", [])
    policy["Statement"] = statements if isinstance(statements, list) else [statements]
    return dict(policy)


def merge_statement(policy_text: str | None, statement: dict[str, Any]) -> str:
    """Add a statement to a policy, keeping every other statement as it is."""
    policy = load_policy(policy_text)
    policy["Statement"] = [s for s in policy["Statement"] if s.get("Sid") != statement["Sid"]] + [statement]
    return json.dumps(policy)


def remove_statement(policy_text: str | None, sid: str) -> str | None:
    policy = load_policy(policy_text)
    kept = [s for s in policy["Statement"] if s.get("Sid") != sid]
    if len(kept) == len(policy["Statement"]):
        return policy_text
    policy["Statement"] = kept
    return json.dumps(policy) if kept else ""


def policy_allows_topic(policy_text: str | None, queue_arn: str, topic_arn: str) -> bool:
    """Does the queue policy let this topic SendMessage (an Allow that matches and no Deny that does)?"""
    statements = list(load_policy(policy_text)["Statement"]) if policy_text else []
    matching = [s for s in statements if _statement_matches(s, queue_arn, topic_arn)]
    return any(s.get("Effect") == "Allow" for s in matching) and not any(
        s.get("Effect") == "Deny" for s in matching
    )


def _statement_matches(statement: dict[str, Any], queue_arn: str, topic_arn: str) -> bool:
    return (
        _principal_is_sns(statement.get("Principal"))
        and any(_glob(a.lower(), "sqs:sendmessage") for a in _as_list(statement.get("Action")))
        and any(_glob(r, queue_arn) for r in _as_list(statement.get("Resource", "*")))
        and _condition_admits(statement.get("Condition"), topic_arn)
    )


def _principal_is_sns(principal: Any) -> bool:
    if principal == "*":
        return True
    if isinstance(principal, dict):
        services = _as_list(principal.get("Service"))
        return "*" in _as_list(principal.get("AWS")) or any(s in SNS_PRINCIPALS for s in services)
    return False


def _condition_admits(condition: Any, topic_arn: str) -> bool:
    if not condition:
        return True
    if not isinstance(condition, dict):
        return False
    for operator, clauses in condition.items():
        if not isinstance(clauses, dict):
            return False
        for key, values in clauses.items():
            if key.lower() != "aws:sourcearn":
                return False  # a condition we cannot evaluate offline: do not claim it admits the topic
            wanted = _as_list(values)
            if operator in ("ArnEquals", "StringEquals") and topic_arn not in wanted:
                return False
            if operator in ("ArnLike", "StringLike") and not any(_glob(w, topic_arn) for w in wanted):
                return False
            if operator not in ("ArnEquals", "StringEquals", "ArnLike", "StringLike"):
                return False
    return True


def _glob(pattern: str, value: str) -> bool:
    from fnmatch import fnmatchcase

    return fnmatchcase(value, pattern)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def dlq_name(queue_name: str) -> str:
    """``orders`` -> ``orders-dlq``; ``orders.fifo`` -> ``orders-dlq.fifo``."""
    if queue_name.endswith(".fifo"):
        return f"{queue_name[: -len('.fifo')]}-dlq.fifo"
    return f"{queue_name}-dlq"


def changed(changes: Iterable[Change]) -> Iterator[Change]:
    return (c for c in changes if c.action != "unchanged")
