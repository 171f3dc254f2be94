"""SQS queue access policies (IAM JSON): the statement that lets an SNS topic send to a queue, merged into
or removed from a policy without touching its other statements, and whether a policy lets a topic send."""

from __future__ import annotations

import json
import re
from typing import Any

from msgctl.errors import MsgctlError

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


def parse_queue_policy(text: str | None) -> dict[str, Any]:
    """An SQS queue's access policy (IAM JSON) with ``Statement`` always a list; none yet is an empty one."""
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
    policy = parse_queue_policy(policy_text)
    policy["Statement"] = [s for s in policy["Statement"] if s.get("Sid") != statement["Sid"]] + [statement]
    return json.dumps(policy)


def remove_statement(policy_text: str | None, sid: str) -> str | None:
    policy = parse_queue_policy(policy_text)
    kept = [s for s in policy["Statement"] if s.get("Sid") != sid]
    if len(kept) == len(policy["Statement"]):
        return policy_text
    policy["Statement"] = kept
    return json.dumps(policy) if kept else ""


def policy_allows_topic(policy_text: str | None, queue_arn: str, topic_arn: str) -> bool:
    """Does the queue policy let this topic SendMessage (an Allow that matches and no Deny that does)?"""
    statements = list(parse_queue_policy(policy_text)["Statement"]) if policy_text else []
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
