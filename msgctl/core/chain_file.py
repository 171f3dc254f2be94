"""Chains declared in a TOML or YAML file, for ``msgctl chain apply -f FILE`` (every key is documented in
README.md, "Chain files"; a test keeps that section parseable and complete)::

[[chains]]
topic = "sns:orders"
dlq = true
max_receive_count = 5
queues = [
  "sqs:orders-billing",
  { channel = "sqs:orders-audit", filter_policy = { kind = ["refund"] }, raw = false },
]
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

from msgctl.address import parse_channel
from msgctl.core.chains import DEFAULT_MAX_RECEIVE_COUNT, ChainSpec, QueueSpec
from msgctl.errors import UsageError
from msgctl.filter.lint import lint

CHAIN_KEYS = {
    "topic",
    "queues",
    "fifo",
    "dlq",
    "max_receive_count",
    "content_based_dedup",
    "kms_key",
    "tags",
    "raw",
    "filter_scope",
}
QUEUE_KEYS = {"channel", "filter_policy", "filter_scope", "raw"}


def load_chain_file(path: Path) -> list[ChainSpec]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    document = _parse(path, text)
    chains = document.get("chains", document.get("chain")) if isinstance(document, dict) else None
    if not isinstance(chains, list) or not chains:
        raise UsageError(f"{path}: expected a list of chains under 'chains'")
    return [_chain(path, n, raw) for n, raw in enumerate(chains, start=1)]


def _parse(path: Path, text: str) -> Any:
    if path.suffix in (".yaml", ".yml"):
        import yaml

        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise UsageError(f"{path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path} is not valid TOML: {exc}") from None


def _chain(path: Path, number: int, raw: Any) -> ChainSpec:
    where = f"{path}: chain {number}"
    if not isinstance(raw, dict):
        raise UsageError(f"{where} must be a table")
    _no_unknown(where, raw, CHAIN_KEYS)
    if "topic" not in raw or not isinstance(raw["topic"], str):
        raise UsageError(f"{where} needs 'topic'")
    queues = raw.get("queues")
    if not isinstance(queues, list) or not queues:
        raise UsageError(f"{where} needs 'queues', a non-empty list")
    defaults = {"raw": _bool(where, raw, "raw", True), "filter_scope": raw.get("filter_scope", "attributes")}
    tags = raw.get("tags", {})
    if not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values()):
        raise UsageError(f"{where}: 'tags' must be a table of strings")
    max_receive_count = raw.get("max_receive_count", DEFAULT_MAX_RECEIVE_COUNT)
    if not isinstance(max_receive_count, int) or isinstance(max_receive_count, bool):
        raise UsageError(f"{where}: 'max_receive_count' must be a whole number")
    kms_key = raw.get("kms_key")
    if kms_key is not None and not isinstance(kms_key, str):
        raise UsageError(f"{where}: 'kms_key' must be a string")
    return ChainSpec(
        topic=parse_channel(raw["topic"]),
        queues=tuple(_queue(f"{where} queue {n}", q, defaults) for n, q in enumerate(queues, start=1)),
        fifo=_bool(where, raw, "fifo", False),
        dlq=_bool(where, raw, "dlq", True),
        max_receive_count=max_receive_count,
        content_based_dedup=_bool(where, raw, "content_based_dedup", False),
        kms_key=kms_key,
        tags=tuple(sorted(tags.items())),
    )


def _queue(where: str, raw: Any, defaults: dict[str, Any]) -> QueueSpec:
    if isinstance(raw, str):
        raw = {"channel": raw}
    if not isinstance(raw, dict) or not isinstance(raw.get("channel"), str):
        raise UsageError(f"{where} must be a channel address or a table with 'channel'")
    _no_unknown(where, raw, QUEUE_KEYS)
    policy = raw.get("filter_policy")
    if isinstance(policy, str):
        try:
            policy = json.loads(policy)
        except ValueError:
            raise UsageError(f"{where}: 'filter_policy' is not JSON") from None
    if policy is not None and (not isinstance(policy, dict) or not policy):
        raise UsageError(f"{where}: 'filter_policy' must be a non-empty object")
    scope = raw.get("filter_scope", defaults["filter_scope"])
    if scope not in ("attributes", "body"):
        raise UsageError(f"{where}: 'filter_scope' must be attributes or body")
    problems = lint(policy, scope) if policy is not None else []
    if problems:
        raise UsageError(f"{where}: invalid filter policy: {problems[0]}")
    return QueueSpec(
        channel=parse_channel(raw["channel"]),
        filter_policy=policy,
        filter_scope=scope,
        raw=_bool(where, raw, "raw", defaults["raw"]),
    )


def _bool(where: str, raw: dict[str, Any], key: str, default: bool) -> bool:
    value = raw.get(key, default)
    if not isinstance(value, bool):
        raise UsageError(f"{where}: '{key}' must be true or false")
    return value


def _no_unknown(where: str, raw: dict[str, Any], known: set[str]) -> None:
    unknown = sorted(set(raw) - known)
    if unknown:
        raise UsageError(f"{where}: unknown keys {', '.join(unknown)}")
