"""check speed on LocalStack: `msgctl check --prefix P -o json` (whole process) over 300 queues beside a
hand-written boto3 loop run as a script with 8 threads that reads the same: ListQueues, then per queue
GetQueueAttributes(All) and ListQueueTags. A tenth of the queues dead-letter to a DLQ of their own, another
tenth hold a message. msgctl also asks CloudWatch for the ages of the queues that hold messages (one
GetMetricData a 500 queues), each DLQ for its move tasks, and SNS for the topics with the prefix; the loop
does not.

Run: .venv/bin/python bench/check.py [--queues 300] [--prefix bench-check-] [--threads 8] [--rounds 3]
(start LocalStack first with .ci/localstack). Goal (issue 15): at least 0.9x the 8-thread loop.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from common import LOCALSTACK, MSGCTL, client, interleaved_ratios, msgctl_env, result, spread
from ls import queue_urls


def ensure_queues(sqs: Any, prefix: str, count: int) -> None:
    """``count`` queues PREFIX0000, ...; every tenth has a DLQ PREFIX0000-dlq and a msgctl tag."""
    existing = {url.rsplit("/", 1)[-1] for url in queue_urls(sqs, prefix)}

    def create(n: int) -> None:
        name = f"{prefix}{n:04d}"
        if name in existing:
            return
        attributes: dict[str, str] = {}
        if n % 10 == 0:
            dlq = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
            answer = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])
            arn = answer["Attributes"]["QueueArn"]
            attributes["RedrivePolicy"] = json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": 5})
        sqs.create_queue(QueueName=name, Attributes=attributes, tags={"msgctl:depth-warn": "100"})

    def fill(n: int) -> None:
        url = sqs.get_queue_url(QueueName=f"{prefix}{n:04d}")["QueueUrl"]
        held = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
        if held["Attributes"]["ApproximateNumberOfMessages"] == "0":
            sqs.send_message(QueueUrl=url, MessageBody="waiting")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(create, range(count)))
        list(pool.map(fill, range(5, count, 10)))
    print(f"  {count:,} queues {prefix}*: a DLQ for every tenth, a message waiting in every tenth")


def reference_loop(endpoint: str, prefix: str, threads: int) -> int:
    sqs = client(endpoint)
    urls = sorted(queue_urls(sqs, prefix), key=lambda url: url.rsplit("/", 1)[-1])

    def read(url: str) -> tuple[dict[str, str], dict[str, str]]:
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        return attributes, sqs.list_queue_tags(QueueUrl=url).get("Tags", {})

    with ThreadPoolExecutor(threads) as pool:
        return len(list(pool.map(read, urls)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--queues", type=int, default=300)
    parser.add_argument("--prefix", default="bench-check-")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--endpoint", default=LOCALSTACK)
    parser.add_argument("--loop-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.loop_only:
        print(reference_loop(args.endpoint, args.prefix, args.threads))
        return
    print(f"check of {args.queues:,} queues on {args.endpoint}")
    ensure_queues(client(args.endpoint), args.prefix, args.queues)
    env = msgctl_env(args.endpoint)
    command = [MSGCTL, "check", "--prefix", args.prefix, "-o", "json"]
    loop = [sys.executable, __file__, "--loop-only", "--prefix", args.prefix, "--endpoint", args.endpoint]
    loop += ["--threads", str(args.threads)]

    def ours() -> int:
        run = subprocess.run(command, env=env, capture_output=True, text=True)
        if run.returncode not in (0, 1, 2):  # the statuses; 3 would mean something could not be read
            sys.exit(f"msgctl check exited {run.returncode}: {run.stderr[-500:]}")
        return len(json.loads(run.stdout))

    def theirs() -> int:
        return int(subprocess.run(loop, check=True, capture_output=True, text=True).stdout)

    ratios = interleaved_ratios(
        args.rounds,
        ("msgctl check --prefix (whole process)", ours),
        (f"boto3 loop, {args.threads} threads, as a script", theirs),
        "queues",
    )
    print(f"  check / loop: {spread(ratios)}")
    result(
        f"check of {args.queues:,} queues / boto3 loop, {args.threads} threads (LocalStack)",
        statistics.median(ratios),
        ">= 0.9x",
    )


if __name__ == "__main__":
    main()
