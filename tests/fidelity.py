"""The fidelity table: what each path does to each field of a message, as proven by the tests.

An integration test that checks a field on a path says so with ``@fidelity(broker, field, path, outcome)``;
its assertions must prove exactly that outcome (``KEPT``: what arrives equals what was sent, compared with
boto3 or stomp.py; anything else: the text says how it changed, or that the command refused or said it could
not, with its exit code). ``test_fidelity_table`` renders every declared cell into the README's table, so the
table cannot say more than the tests prove, nor drift from them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

KEPT = "kept"

# The columns of the README table, in order. A cell's path must be one of these.
PATHS = (
    "tail",
    "dlq export",
    "dlq redrive",
    "dlq redrive --copy",
    "replay",
)


@dataclass(frozen=True)
class Cell:
    broker: str  # "SQS", "SNS" or "ActiveMQ"
    field: str
    path: str
    outcome: str
    test: str


CELLS: list[Cell] = []
F = TypeVar("F", bound=Callable[..., Any])


def fidelity(broker: str, field: str, path: str, outcome: str = KEPT) -> Callable[[F], F]:
    """Declare that the decorated test proves ``outcome`` for ``field`` on ``path`` (may be stacked)."""
    if path not in PATHS:
        raise ValueError(f"unknown fidelity path {path!r}; add it to PATHS")
    if "|" in outcome or "\n" in outcome:
        raise ValueError("a fidelity outcome is one line without '|'")

    def mark(test: F) -> F:
        CELLS.append(Cell(broker, field, path, outcome, f"{test.__module__}.{test.__name__}"))
        return test

    return mark


START, END = "<!-- fidelity-table:start -->", "<!-- fidelity-table:end -->"


def load_all_tests() -> list[Cell]:
    """Import every test module, so each ``@fidelity`` declaration is registered."""
    import importlib
    from pathlib import Path

    for path in sorted(Path(__file__).parent.glob("test_*.py")):
        importlib.import_module(f"tests.{path.stem}")
    return CELLS


def render(cells: list[Cell]) -> str:
    outcomes: dict[tuple[str, str], dict[str, str]] = {}
    for cell in cells:
        row = outcomes.setdefault((cell.broker, cell.field), {})
        if row.get(cell.path, cell.outcome) != cell.outcome:
            raise ValueError(f"two tests disagree on {cell.broker} {cell.field} / {cell.path}")
        row[cell.path] = cell.outcome
    lines = [
        "| broker | field | " + " | ".join(f"`{p}`" for p in PATHS) + " |",
        "| --- | --- |" + " --- |" * len(PATHS),
    ]
    for (broker, field), row in sorted(outcomes.items()):
        lines.append(f"| {broker} | {field} | " + " | ".join(row.get(p, "") for p in PATHS) + " |")
    return "\n".join(lines)


def readme_section(readme: str) -> str:
    start, end = readme.index(START) + len(START), readme.index(END)
    return readme[start:end].strip("\n")


if __name__ == "__main__":  # python -m tests.fidelity: rewrite the README's table from the tests
    from pathlib import Path

    readme_path = Path(__file__).parent.parent / "README.md"
    text = readme_path.read_text()
    from tests import fidelity  # the module the tests register with, not this __main__

    table = fidelity.render(fidelity.load_all_tests())
    before, after = text.split(START)[0], text.split(END)[1]
    readme_path.write_text(f"{before}{START}\n{table}\n{END}{after}")
