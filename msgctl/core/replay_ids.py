"""Replay's id rules: the group and deduplication id each replayed message gets, from the options
--group-id and --dedup-id (keep, message-id, content or a template)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from msgctl.envelope import Envelope
from msgctl.errors import UsageError

VALID_ID = re.compile(r"[!-~]{1,128}")  # SQS: alphanumerics and punctuation, 1 to 128 characters
_sha256 = hashlib.sha256


class InvalidMessage(Exception):
    """A line that cannot be replayed; the message says why."""


class Template:
    """``{id}``, ``{attr.NAME}`` and ``{body.PATH}`` (dotted keys and list indexes of a JSON body)."""

    FIELD = re.compile(r"\{([^{}]*)\}")

    def __init__(self, text: str) -> None:
        if not text:
            raise UsageError("an empty template: give fields like {id}, {attr.NAME} or {body.PATH}")
        self.text = text
        self.fields = self.FIELD.findall(text)
        for name in self.fields:
            if name != "id" and not re.fullmatch(r"(attr|body)\.[^.]+(\.[^.]+)*", name):
                raise UsageError(
                    f"unknown template field {{{name}}}: use {{id}}, {{attr.NAME}} or {{body.PATH}}"
                )

    def render(self, envelope: Envelope) -> str:
        body: list[Any] = []  # parsed once, when a field needs it
        return self.FIELD.sub(lambda match: self._value(match.group(1), envelope, body), self.text)

    @staticmethod
    def _value(name: str, envelope: Envelope, body: list[Any]) -> str:
        if name == "id":
            if not envelope.id:
                raise InvalidMessage("the envelope has no id for {id}")
            return envelope.id
        source, _, path = name.partition(".")
        if source == "attr":
            attribute = envelope.message_attributes.get(path)
            if attribute is None or not isinstance(attribute.value, str):
                raise InvalidMessage(f"no string or number attribute {path!r} for {{{name}}}")
            return attribute.value
        if not body:
            try:
                body.append(json.loads(envelope.body))
            except ValueError:
                raise InvalidMessage(f"the body is not JSON, so {{{name}}} has no value") from None
        value = body[0]
        for key in path.split("."):
            if isinstance(value, dict) and key in value:
                value = value[key]
            elif isinstance(value, list) and key.isdigit() and int(key) < len(value):
                value = value[int(key)]
            else:
                raise InvalidMessage(f"the body has no {path!r} for {{{name}}}")
        if isinstance(value, dict | list) or value is None:
            raise InvalidMessage(f"{{{name}}} is not a string or a number in the body")
        return str(value).lower() if isinstance(value, bool) else str(value)


RuleKind = Literal["default", "keep", "message-id", "content", "template"]


@dataclass(frozen=True)
class IdRule:
    kind: RuleKind
    template: Template | None = None


DEFAULT_RULE = IdRule("default")


def parse_dedup_rule(text: str | None) -> IdRule:
    return _parse_rule(text, ("keep", "message-id", "content"), "--dedup-id")


def parse_group_rule(text: str | None) -> IdRule:
    return _parse_rule(text, ("keep",), "--group-id")


def _parse_rule(text: str | None, kinds: tuple[str, ...], option: str) -> IdRule:
    if text is None:
        return DEFAULT_RULE
    if text.startswith("template:"):
        return IdRule("template", Template(text.removeprefix("template:")))
    if text in kinds:
        return IdRule(text)  # type: ignore[arg-type]
    raise UsageError(f"{option} must be {', '.join(kinds)} or template:TEMPLATE, not {text!r}")


def message_ids(envelope: Envelope, dedup: IdRule, group: IdRule, fifo: bool) -> tuple[str | None, str]:
    """The group and deduplication ids of a message; InvalidMessage when it cannot have them."""
    group_id = _group_id(envelope, group)
    if fifo and not group_id:
        raise InvalidMessage("no group id, and the target is FIFO: pass --group-id template:...")
    dedup_id, hashed = _dedup_id(envelope, group_id, dedup)
    if group_id is not None and not VALID_ID.fullmatch(group_id):
        raise _invalid_id("group id", group_id)
    if not hashed and not VALID_ID.fullmatch(dedup_id):
        raise _invalid_id("deduplication id", dedup_id)
    return group_id, dedup_id


def _invalid_id(what: str, value: str) -> InvalidMessage:
    return InvalidMessage(f"the {what} {value[:40]!r} is not 1 to 128 printable ASCII characters")


def _group_id(envelope: Envelope, rule: IdRule) -> str | None:
    if rule.template is not None:
        return rule.template.render(envelope)
    kept = envelope.attributes.get("group_id")
    return kept if isinstance(kept, str) and kept else None


def _dedup_id(envelope: Envelope, group_id: str | None, rule: IdRule) -> tuple[str, bool]:
    """The id, and whether it is a hash of ours (a valid id). By default from the message id, so distinct
    captured messages with the same body all go; a repeat of the same captured message (same id) is sent
    once."""
    if rule.template is not None:
        return rule.template.render(envelope), False
    if rule.kind == "message-id" or (rule.kind == "default" and envelope.id):
        if not envelope.id:
            raise InvalidMessage("the envelope has no id for --dedup-id message-id")
        return _sha256(b"msgctl-replay:" + envelope.id.encode()).hexdigest(), True
    kept = envelope.attributes.get("dedup_id")
    if rule.kind == "keep" or (rule.kind == "default" and isinstance(kept, str) and kept):
        if not isinstance(kept, str) or not kept:
            raise InvalidMessage("the envelope has no dedup_id to keep")
        return kept, False
    return content_hash(envelope, group_id), True


def content_hash(envelope: Envelope, group_id: str | None) -> str:
    """The same for the same body, message attributes and group, whatever the attributes' order."""
    attributes = {name: a.to_json() for name, a in sorted(envelope.message_attributes.items())}
    canonical = json.dumps(
        [base64.b64encode(envelope.body).decode(), attributes, group_id],
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()
