"""tail speed: `msgctl tail` of a queue to NDJSON beside a hand-written boto3 snapshot loop doing the same
work (receive 10 holding them, print each as JSON, release everything at the end), on LocalStack.

Run: .venv/bin/python bench/tail.py [--messages N] [--endpoint http://127.0.0.1:4566]
(start LocalStack first with .ci/localstack). The tail issue's goal is at least 0.8x the loop's speed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import time
import uuid
from typing import Any

from common import LOCALSTACK, MSGCTL, client, fill, msgctl_env, receive_held, release, result


def new_filled_queue(sqs: Any, count: int) -> str:
    url = sqs.create_queue(QueueName=f"bench-tail-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    fill(sqs, url, count)
    return url


def reference_loop(sqs: Any, url: str, out: Any) -> int:
    """Receive 10 at a time holding them, print each, release them all at the end."""
    held, seen = [], set()
    while True:
        messages = receive_held(sqs, url)
        if not messages:
            break
        for message in messages:
            held.append(message["ReceiptHandle"])
            if message["MessageId"] not in seen:
                seen.add(message["MessageId"])
                out.write(
                    json.dumps(
                        {
                            "id": message["MessageId"],
                            "body": message["Body"],
                            "attributes": message.get("MessageAttributes", {}),
                        }
                    )
                    + "\n"
                )
    release(sqs, url, held)
    return len(seen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--endpoint", default=LOCALSTACK)
    args = parser.parse_args()
    sqs = client(args.endpoint)
    url = new_filled_queue(sqs, args.messages)
    queue = url.rsplit("/", 1)[-1]
    env = msgctl_env(args.endpoint)
    msgctl = MSGCTL
    ours, theirs = [], []
    with open(os.devnull, "w") as devnull:
        for _ in range(args.runs):  # alternate, so both see the same machine load
            start = time.perf_counter()
            tailed = subprocess.run(
                [msgctl, "tail", f"sqs:{queue}", "-o", "ndjson", "--force"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                check=True,
                text=True,
            )
            ours.append(time.perf_counter() - start)
            shown = tailed.stdout.count("\n")
            start = time.perf_counter()
            printed = reference_loop(sqs, url, devnull)
            theirs.append(time.perf_counter() - start)
    sqs.delete_queue(QueueUrl=url)
    tail_s, loop_s = statistics.median(ours), statistics.median(theirs)
    print(f"{args.messages:,} messages on {args.endpoint}, median of {args.runs} runs each")
    for label, seconds, count in (
        ("msgctl tail -o ndjson (whole process)", tail_s, shown),
        ("boto3 snapshot loop (in process)", loop_s, printed),
    ):
        print(f"  {label:<40} {seconds:7.2f} s {args.messages / seconds:8,.0f} msg/s  ({count} shown)")
    print(f"  msgctl / reference speed: {loop_s / tail_s:.2f}x")
    result("tail -o ndjson / boto3 snapshot loop (LocalStack)", loop_s / tail_s, ">= 0.8x")


if __name__ == "__main__":
    main()
