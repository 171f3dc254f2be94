"""`msgctl --help` must not import the broker client libraries (their import alone is slower than our
whole start-up). The timing itself is measured by bench/startup.py, never asserted here."""

import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("boto3", "botocore", "stomp")


@pytest.mark.parametrize("args", [["--help"], ["ls", "--help"], ["send", "--help"], ["sandbox", "--help"]])
def test_help_imports_no_broker_library(args: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "msgctl", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if "|" in line}
    top_level = {name.split(".")[0] for name in imported}
    assert top_level.isdisjoint(HEAVY), sorted(top_level & set(HEAVY))
    assert "Usage: msgctl" in result.stdout


def test_console_script_and_module_agree() -> None:
    script = Path(sys.executable).parent / "msgctl"
    outputs = [
        subprocess.run(command, capture_output=True, text=True, check=True).stdout
        for command in ([str(script), "--version"], [sys.executable, "-m", "msgctl", "--version"])
    ]
    assert outputs[0] == outputs[1]
    assert outputs[0].startswith("msgctl ")


def test_root_help_summaries_are_the_commands_own() -> None:
    import importlib

    from msgctl.cli.app import COMMANDS

    for name, (module_name, function, summary) in COMMANDS.items():
        module = importlib.import_module(f"msgctl.cli.{module_name}")
        own = (
            (getattr(module, function).__doc__ or "").strip().splitlines()[0]
            if function
            else module.app.info.help
        )
        assert summary == own, name


def test_every_command_runs_its_own_help(invoke) -> None:
    from msgctl.cli.app import COMMANDS

    for name in COMMANDS:
        result = invoke(name, "--help")
        assert result.exit_code == 0, result.stderr
        assert f"Usage: msgctl {name}" in result.stdout
