"""completions/ holds the scripts the CLI itself generates; regenerate them when this fails:

for s in bash zsh fish; do _MSGCTL_COMPLETE=source_$s msgctl > completions/msgctl.$s; done
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts_are_current(shell: str) -> None:
    generated = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; sys.argv[0] = 'msgctl'; from msgctl.cli.main import main; main()",
        ],
        env={**os.environ, "_MSGCTL_COMPLETE": f"source_{shell}"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert (ROOT / "completions" / f"msgctl.{shell}").read_text() == generated
