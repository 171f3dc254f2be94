"""Option bundles shared by several commands, declared once."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer


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

DryRunOption = Annotated[bool, typer.Option("--dry-run", help="Print the plan; change nothing.")]
YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
