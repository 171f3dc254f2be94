"""Redrive scaled out on LocalStack: one big DLQ moved by one `msgctl dlq redrive` process, then by several
at once (competing consumers, each with its own journal), all with --concurrency 4. Counts what arrived,
what the processes named as possible duplicates, and the messages a second rate.

Run: .venv/bin/python bench/redrive_competing.py [--messages 6000] [--processes 3] [--rounds 2]
(start LocalStack first with .ci/localstack). Not a goal of its own: the README quotes these figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
import time
from typing import Any

from common import LOCALSTACK, MSGCTL, client, msgctl_env
from redrive import pair


def redrive(processes: int, sqs: Any, count: int, env: dict[str, str]) -> tuple[float, int, int]:
    """Seconds, messages in the target, possible duplicates named."""
    name, url, _ = pair(sqs, count)
    with tempfile.TemporaryDirectory() as scratch:
        runs = []
        start = time.perf_counter()
        for n in range(processes):
            command = [
                MSGCTL,
                "-o",
                "json",
                "dlq",
                "redrive",
                f"sqs:{name}-dlq",
                "--yes",
                "--engine",
                "client",
            ]
            command += ["--concurrency", "4", "--journal", f"{scratch}/journal-{n}.sqlite"]
            runs.append(subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL))
        outputs = [run.communicate()[0] for run in runs]
        seconds = time.perf_counter() - start
    named = sum(len(json.loads(out).get("possible_duplicates", [])) for out in outputs if out.strip())
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    return seconds, int(attributes["Attributes"]["ApproximateNumberOfMessages"]), named


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=6000)
    parser.add_argument("--processes", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--endpoint", default=LOCALSTACK)
    args = parser.parse_args()
    sqs, env = client(args.endpoint), msgctl_env(args.endpoint)
    print(f"one DLQ of {args.messages:,} messages on {args.endpoint}, --concurrency 4 a process")
    times: dict[int, list[float]] = {1: [], args.processes: []}
    for _ in range(args.rounds):
        for processes in times:  # interleaved against LocalStack's drift
            seconds, arrived, named = redrive(processes, sqs, args.messages, env)
            times[processes].append(seconds)
            print(
                f"  {processes} process(es): {seconds:6.2f} s {args.messages / seconds:7,.0f} msg/s, "
                f"{arrived:,} in the target, {named} named as possible duplicates"
            )
    one, many = (statistics.median(times[p]) for p in times)
    print(f"RESULT\tdlq redrive, {args.processes} processes / 1 process (LocalStack)\t{one / many:.2f}x\t-")


if __name__ == "__main__":
    main()
