"""Option bundles shared by several commands, declared once."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from msgctl.errors import UsageError

if TYPE_CHECKING:
    from msgctl.core.filter_policy import Scope


class Output(StrEnum):
    table = "table"
    json = "json"
    ndjson = "ndjson"


OutputOption = Annotated[
    Output | None,
    typer.Option(
        "--output",
        "-o",
        help="table, json (one document) or ndjson (one object per line).",
        show_default=False,
    ),
]

FilterOption = Annotated[
    str | None,
    typer.Option("--filter", help="Only messages an SNS filter policy accepts: JSON, @FILE or -."),
]
FilterScopeOption = Annotated[str, typer.Option(help="The filter's scope: attributes or body.")]

DryRunOption = Annotated[bool, typer.Option("--dry-run", help="Print the plan; change nothing.")]
YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]


def read_argument(text: str) -> str:
    """A JSON argument given inline, as @FILE, or as - for stdin."""
    if text == "-":
        return sys.stdin.read()
    if text.startswith("@"):
        try:
            return Path(text[1:]).expanduser().read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot read {text[1:]}: {exc.strerror}") from None
    return text


def parse_scope(text: str, option: str = "--filter-scope") -> Scope:
    if text not in ("attributes", "body"):
        raise UsageError(f"{option} must be attributes or body")
    return "body" if text == "body" else "attributes"
