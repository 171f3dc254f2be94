"""Messages as tail prints them: readable blocks on a terminal, NDJSON envelopes (flushed per line) in a
pipe, or one JSON array."""

from __future__ import annotations

import json
import shutil
from typing import Any, Literal

from msgctl.envelope import SUBJECT, Envelope
from msgctl.render import Renderer

MessageFormat = Literal["pretty", "ndjson", "json"]
BOLD, DIM, RESET = "\x1b[1m", "\x1b[2m", "\x1b[0m"
HEADER_FACTS = (
    ("group_id", "group"),
    ("receive_count", "receives"),
    ("redelivered", "redelivered"),
    (SUBJECT, "subject"),
)


class MessageWriter:
    def __init__(self, renderer: Renderer, output: MessageFormat) -> None:
        self.renderer = renderer
        self.output = output
        self.collected: list[dict[str, Any]] = []
        self.color = renderer.color and renderer.stdout_is_terminal
        self.width = shutil.get_terminal_size((100, 24)).columns if renderer.stdout_is_terminal else 10_000

    def write(self, envelope: Envelope) -> None:
        if self.output == "ndjson":
            self.renderer.stdout.write(envelope.dumps() + "\n")
            self.renderer.stdout.flush()
        elif self.output == "json":
            self.collected.append(envelope.to_json())
        else:
            self.renderer.stdout.write(self._block(envelope))
            self.renderer.stdout.flush()

    def close(self, partial: dict[str, Any] | None = None) -> None:
        """End the output; a partial read ends NDJSON and JSON with ``partial`` as the last record (a
        terminal gets the warning on stderr only)."""
        if partial is not None and self.output == "ndjson":
            self.renderer.stdout.write(json.dumps(partial, ensure_ascii=False) + "\n")
            self.renderer.stdout.flush()
        elif partial is not None and self.output == "json":
            self.collected.append(partial)
        if self.output == "json":
            self.renderer.stdout.write(json.dumps(self.collected, indent=2, ensure_ascii=False) + "\n")
            self.renderer.stdout.flush()

    def _block(self, envelope: Envelope) -> str:
        facts = envelope.attributes
        header = [facts.get("sent_at") or "-", envelope.channel, f"id {envelope.id or '-'}"]
        for key, label in HEADER_FACTS:
            if facts.get(key) not in (None, False):
                header.append(label if facts[key] is True else f"{label} {facts[key]}")
        lines = [self._style(BOLD, "  ".join(header))]
        payload = facts.get("payload")
        if isinstance(payload, dict):  # an extended-client message: its body is in S3
            lines.append(self._style(DIM, "  " + _payload(payload)))
        if envelope.message_attributes:
            attributes = envelope.message_attributes.items()
            brief = "  ".join(f"{name}={_brief(attr.value)}" for name, attr in attributes)
            lines.append(self._style(DIM, "  " + brief))
        lines += ["  " + line for line in _body(envelope).splitlines() or [""]]
        if self.renderer.verbose == 0:
            width = self.width
            lines = [line if len(line) <= width else line[: width - 1] + "…" for line in lines]
        return "\n".join(lines) + "\n\n"

    def _style(self, code: str, text: str) -> str:
        return f"{code}{text}{RESET}" if self.color else text


def _payload(payload: dict[str, Any]) -> str:
    size = f", {payload['size']:,} bytes" if isinstance(payload.get("size"), int) else ""
    if payload.get("error"):
        return f"payload in {payload.get('s3')}{size}: NOT READ: {payload['error']}"
    shown = "shown below" if payload.get("resolved") else "not read (--payloads resolve shows it)"
    return f"payload in {payload.get('s3')}{size}: {shown}"


def _brief(value: object) -> str:
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if isinstance(value, list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _body(envelope: Envelope) -> str:
    text = envelope.text
    if text is None:
        return f"<{len(envelope.body)} bytes of binary>"
    try:
        document = json.loads(text)
    except ValueError:
        return text
    if isinstance(document, dict | list):
        return json.dumps(document, indent=2, ensure_ascii=False)
    return text
