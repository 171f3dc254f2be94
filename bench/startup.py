"""Start-up time of `msgctl --help` beside the reference `python -c "import boto3"`.

Run: .venv/bin/python bench/startup.py [--runs N]

Each command runs N times (after one warm-up); the median wall time is printed with the ratio.
The foundation issue asks for `msgctl --help` <= 0.8x the reference.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

from common import MSGCTL, result


def median_wall_time(command: list[str], runs: int) -> float:
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    msgctl = MSGCTL
    cases = {
        "python -c pass (floor)": [sys.executable, "-c", "pass"],
        'python -c "import boto3" (reference)': [sys.executable, "-c", "import boto3"],
        "msgctl --help": [msgctl, "--help"],
        "python -m msgctl --help": [sys.executable, "-m", "msgctl", "--help"],
    }
    results = {name: median_wall_time(command, args.runs) for name, command in cases.items()}
    reference = results['python -c "import boto3" (reference)']
    print(f"{'command':<40} {'median ms':>10} {'x boto3':>8}   ({args.runs} runs each)")
    for name, seconds in results.items():
        print(f"{name:<40} {seconds * 1000:>10.1f} {seconds / reference:>8.2f}")
    result(
        "msgctl --help / python -c 'import boto3' (start-up time)",
        results["msgctl --help"] / reference,
        "<= 0.8x",
    )


if __name__ == "__main__":
    main()
