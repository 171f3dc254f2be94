"""All output goes through here: data on stdout (table, JSON, NDJSON), messages and progress on stderr.

rich is imported here only, and only when a table is drawn, so commands that print JSON stay light.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from msgctl.config import OutputFormat


@dataclass
class Renderer:
    output: OutputFormat = "table"
    color: bool = True
    quiet: bool = False
    verbose: int = 0
    stdout: IO[str] = field(default_factory=lambda: sys.stdout)
    stderr: IO[str] = field(default_factory=lambda: sys.stderr)

    @property
    def stdout_is_terminal(self) -> bool:
        return bool(getattr(self.stdout, "isatty", lambda: False)())

    def records(
        self,
        rows: Sequence[Mapping[str, Any]],
        columns: Sequence[str],
        styles: Sequence[str | None] | None = None,
    ) -> None:
        """A list of objects: a table (each row in its rich style, on a terminal), one JSON array, or one
        JSON object per line."""
        if self.output == "json":
            self._write(json.dumps(list(rows), indent=2, default=str))
        elif self.output == "ndjson":
            for row in rows:
                self._write(json.dumps(row, separators=(",", ":"), default=str))
        else:
            self._table([[_column_cell(row.get(c)) for c in columns] for row in rows], columns, styles)

    def record(self, row: Mapping[str, Any]) -> None:
        """One JSON object on a line, as it comes (a stream of them: flushed by the end of the command)."""
        self.stdout.write(json.dumps(row, separators=(",", ":"), default=str) + "\n")

    def document(self, doc: Mapping[str, Any]) -> None:
        """One object: a two-column table of its fields, or one JSON document."""
        if self.output == "json":
            self._write(json.dumps(doc, indent=2, default=str))
        elif self.output == "ndjson":
            self._write(json.dumps(doc, separators=(",", ":"), default=str))
        else:
            self._table([[key, _cell(value)] for key, value in _flatten(doc)], ["field", "value"])

    def confirm(self, question: str, stdin: IO[str] | None = None) -> bool:
        """Ask on the terminal; without one, refuse rather than hang (the caller offers --yes)."""
        return self.ask(question, stdin) is True

    def ask(self, question: str, stdin: IO[str] | None = None) -> bool | None:
        """A yes/no question on the terminal: the answer, or None when there is no terminal to ask on."""
        stream = stdin if stdin is not None else sys.stdin
        if not getattr(stream, "isatty", lambda: False)():
            return None
        self.stderr.write(f"{question} [y/N] ")
        self.stderr.flush()
        return stream.readline().strip().lower() in ("y", "yes")

    def choose(self, question: str, options: Sequence[str], stdin: IO[str] | None = None) -> str | None:
        """Pick one option on the terminal (by number); None without a terminal or without an answer."""
        stream = stdin if stdin is not None else sys.stdin
        if not getattr(stream, "isatty", lambda: False)():
            return None
        for number, option in enumerate(options, start=1):
            self.stderr.write(f"  {number}) {option}\n")
        self.stderr.write(f"{question} [1-{len(options)}] ")
        self.stderr.flush()
        answer = stream.readline().strip()
        return options[int(answer) - 1] if answer.isdigit() and 1 <= int(answer) <= len(options) else None

    def line(self, text: str) -> None:
        self._write(text)

    def error(self, message: str) -> None:
        self._err(f"msgctl: error: {message}")

    def warn(self, message: str) -> None:
        self._err(f"msgctl: warning: {message}")

    def info(self, message: str) -> None:
        if not self.quiet:
            self._err(message)

    def _write(self, text: str) -> None:
        self.stdout.write(text + "\n")
        self.stdout.flush()

    def _err(self, text: str) -> None:
        self.stderr.write(text + "\n")
        self.stderr.flush()

    def _table(
        self,
        rows: Iterable[Sequence[str]],
        columns: Sequence[str],
        styles: Sequence[str | None] | None = None,
    ) -> None:
        from rich import box
        from rich.console import Console
        from rich.table import Table

        terminal = self.stdout_is_terminal
        table = Table(box=box.SIMPLE_HEAD if terminal else None, show_edge=False, pad_edge=False)
        for column in columns:
            table.add_column(column.upper(), overflow="fold")
        for number, row in enumerate(rows):
            table.add_row(*row, style=styles[number] if styles else None)
        console = Console(
            file=self.stdout,
            no_color=not self.color,
            highlight=False,
            emoji=False,
            width=None if terminal else 10_000,
            force_terminal=terminal and self.color,
        )
        if terminal:
            console.print(table)
        else:
            with console.capture() as capture:
                console.print(table)
            self.stdout.write("\n".join(line.rstrip() for line in capture.get().splitlines()) + "\n")
            self.stdout.flush()


def _column_cell(value: Any) -> str:
    """A list of names in a table column reads as a comma-separated list (JSON keeps it a list)."""
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return ", ".join(value)
    return _cell(value)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    return str(value)


def _flatten(doc: Mapping[str, Any], prefix: str = "") -> Iterable[tuple[str, Any]]:
    for key, value in doc.items():
        if isinstance(value, Mapping) and value:
            yield from _flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value
