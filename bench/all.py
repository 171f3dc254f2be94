"""Every speed comparison in one go, then one table of msgctl against its reference.

Run: .venv/bin/python bench/all.py [--quick]
(needs the sandbox's ActiveMQ and LocalStack: `msgctl sandbox up` and `.ci/localstack`). Each script also
runs on its own, with more options; --quick runs fewer rounds.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = {
    "startup.py": (["--runs", "15"], ["--runs", "5"]),
    "filter.py": (["--runs", "5"], ["--runs", "3"]),
    # CPU-bound on this machine's 2 cores: run before the scripts that leave LocalStack busy
    "replay_scale.py": ([], ["--quick", "--rounds", "1"]),
    "tail.py": ([], ["--runs", "1"]),
    "redrive.py": (["--rounds", "3"], ["--rounds", "1", "--naive", "100"]),
    "redrive_activemq.py": ([], []),
    "replay.py": (["--rounds", "3"], ["--rounds", "1"]),
    "ls.py": (["--rounds", "3"], ["--rounds", "1"]),
    "check.py": (["--rounds", "5"], ["--rounds", "1"]),
    "payloads.py": (["--rounds", "5"], ["--rounds", "1"]),
    "redrive_competing.py": ([], ["--rounds", "1", "--messages", "3000"]),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    rows: list[list[str]] = []
    for script, (full, quick) in SCRIPTS.items():
        print(f"== {script}", flush=True)
        run = subprocess.run(
            [sys.executable, str(HERE / script), *(quick if args.quick else full)],
            capture_output=True,
            text=True,
        )
        print(run.stdout, end="")
        if run.returncode:
            print(run.stderr, end="")
            rows.append([f"{script} failed (exit {run.returncode})", "-", "-"])
        rows += [line.split("\t")[1:] for line in run.stdout.splitlines() if line.startswith("RESULT\t")]
    width = max(len(row[0]) for row in rows)
    print(f"\n{'comparison':<{width}}  {'msgctl':>7}  goal")
    for comparison, ratio, goal in rows:
        print(f"{comparison:<{width}}  {ratio:>7}  {goal}")


if __name__ == "__main__":
    main()
