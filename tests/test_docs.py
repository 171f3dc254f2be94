"""docs/cli.md is the CLI's own --help; regenerate it when this fails:
python -m msgctl.cli.reference > docs/cli.md"""

from pathlib import Path

from msgctl.cli.reference import markdown, missing_help

ROOT = Path(__file__).resolve().parent.parent


def test_the_command_reference_is_current() -> None:
    assert (ROOT / "docs" / "cli.md").read_text() == markdown()


def test_every_command_has_help() -> None:
    assert missing_help() == []
