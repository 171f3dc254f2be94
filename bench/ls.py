"""ls speed on LocalStack: `msgctl ls sqs --prefix P -o json` (whole process) over 1,100 queues beside a
hand-written boto3 loop (in process, client made inside the timing) with 8 threads: ListQueues (paginated)
and GetQueueAttributes(All) per queue. The queues are created once and reused by later runs.

The goal compares whole processes: msgctl against the loop run as a script (python, import boto3, the
loop). For where the time goes, two more rows: msgctl over a prefix no queue has (start-up, client and one
ListQueues), and the loop in this process (no start-up, no import).

Run: .venv/bin/python bench/ls.py [--queues 1100] [--prefix bench-ls-] [--threads 8] [--rounds 3]
(start LocalStack first with .ci/localstack). Goal (issue 19): at least 0.9x the 8-thread loop.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from common import LOCALSTACK, MSGCTL, client, clock, msgctl_env, result, spread


def queue_urls(sqs: Any, prefix: str) -> list[str]:
    pages = sqs.get_paginator("list_queues").paginate(
        QueueNamePrefix=prefix, PaginationConfig={"PageSize": 1000}
    )
    return [url for page in pages for url in page.get("QueueUrls", [])]


def ensure_queues(sqs: Any, prefix: str, count: int) -> None:
    """``count`` queues PREFIX0000, PREFIX0001, ...: those missing are created, 8 at a time."""
    existing = {url.rsplit("/", 1)[-1] for url in queue_urls(sqs, prefix)}
    missing = [f"{prefix}{n:04d}" for n in range(count) if f"{prefix}{n:04d}" not in existing]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda name: sqs.create_queue(QueueName=name), missing))
    print(f"  {count:,} queues {prefix}*: {len(missing):,} created, {count - len(missing):,} reused")


def reference_loop(endpoint: str, prefix: str, threads: int) -> int:
    """Every queue's attributes, sorted by name as ls sorts them; returns how many queues it read."""
    sqs = client(endpoint)
    urls = sorted(queue_urls(sqs, prefix), key=lambda url: url.rsplit("/", 1)[-1])

    def read(url: str) -> dict[str, str]:
        return dict(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"])

    with ThreadPoolExecutor(threads) as pool:
        return len(list(pool.map(read, urls)))


def msgctl_ls(command: list[str], env: dict[str, str]) -> int:
    run = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    return len(json.loads(run.stdout))


def as_script(args: argparse.Namespace) -> int:
    command = [sys.executable, __file__, "--loop-only", "--prefix", args.prefix, "--endpoint", args.endpoint]
    command += ["--threads", str(args.threads)]
    return int(subprocess.run(command, check=True, capture_output=True, text=True).stdout)


def timed_rounds(args: argparse.Namespace) -> dict[str, list[float]]:
    """Seconds per round of each row; the rows are interleaved, so LocalStack's drift hits them alike."""
    env = msgctl_env(args.endpoint)
    ls = [MSGCTL, "ls", "sqs", "--prefix", args.prefix, "-o", "json"]
    empty = [MSGCTL, "ls", "sqs", "--prefix", f"{args.prefix}none-", "-o", "json"]
    rows: dict[str, Callable[[], int]] = {
        "msgctl ls sqs --prefix (whole process)": lambda: msgctl_ls(ls, env),
        f"boto3 loop, {args.threads} threads (in process)": lambda: reference_loop(
            args.endpoint, args.prefix, args.threads
        ),
        "  msgctl ls sqs of no queue (start-up, one ListQueues)": lambda: msgctl_ls(empty, env),
        f"  boto3 loop, {args.threads} threads, as a script (whole process)": lambda: as_script(args),
    }
    times: dict[str, list[float]] = {label: [] for label in rows}
    for _ in range(args.rounds):
        for label, action in rows.items():
            times[label].append(clock(label, action, "queues"))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--queues", type=int, default=1100)
    parser.add_argument("--prefix", default="bench-ls-")
    parser.add_argument("--threads", type=int, default=8, help="threads of the reference loop")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--endpoint", default=LOCALSTACK)
    parser.add_argument("--loop-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.loop_only:  # the loop as a script of its own, for the row that times it so
        print(reference_loop(args.endpoint, args.prefix, args.threads))
        return
    print(f"ls of {args.queues:,} queues on {args.endpoint}")
    ensure_queues(client(args.endpoint), args.prefix, args.queues)
    ours, theirs, start_up, script = timed_rounds(args).values()
    # The goal compares whole processes, as a user runs either; the loop in process is shown beside it.
    in_process = [reference / mine for mine, reference in zip(ours, theirs, strict=True)]
    as_scripts = [loop / mine for mine, loop in zip(ours, script, strict=True)]
    print(
        f"  median: msgctl {statistics.median(ours):.2f} s, loop as a script "
        f"{statistics.median(script):.2f} s: {spread(as_scripts)}"
    )
    print(
        f"  context: msgctl's start-up and one ListQueues {statistics.median(start_up):.2f} s; the loop in "
        f"process {statistics.median(theirs):.2f} s: {spread(in_process)}"
    )
    result(
        f"ls of {args.queues:,} queues / boto3 loop, {args.threads} threads, whole processes (LocalStack)",
        statistics.median(as_scripts),
        ">= 0.9x",
    )


if __name__ == "__main__":
    main()
