"""tail --payloads resolve speed on LocalStack: `msgctl tail Q --payloads resolve -o ndjson` (whole process)
of a queue of extended-client pointer messages, beside a hand-written boto3 script doing the same work with
the same concurrency: receive everything 10 at a time holding it, fetch the S3 objects on 8 threads, print
each message with its payload as JSON, release everything at the end.

Run: .venv/bin/python bench/payloads.py [--messages 200] [--size 100000] [--rounds 3]
(start LocalStack first with .ci/localstack). Goal (issue 17): at least 0.9x the script's speed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from common import (
    LOCALSTACK,
    MSGCTL,
    client,
    interleaved_ratios,
    msgctl_env,
    receive_held,
    release,
    result,
    spread,
)

POINTER_CLASS = "software.amazon.payloadoffloading.PayloadS3Pointer"
BUCKET = "bench-payloads"


def new_pointer_queue(endpoint: str, count: int, size: int) -> str:
    """A queue of ``count`` pointers to objects of ``size`` bytes, as the extended clients send them."""
    sqs, s3 = client(endpoint), client(endpoint, "s3")
    s3.create_bucket(Bucket=BUCKET)
    name = f"bench-payloads-{uuid.uuid4().hex[:8]}"
    url = sqs.create_queue(QueueName=name)["QueueUrl"]

    def send(n: int) -> None:
        key = f"{name}/{n}"
        payload = json.dumps({"n": n, "pad": "x" * size})
        s3.put_object(Bucket=BUCKET, Key=key, Body=payload.encode())
        sqs.send_message(
            QueueUrl=url,
            MessageBody=json.dumps([POINTER_CLASS, {"s3BucketName": BUCKET, "s3Key": key}]),
            MessageAttributes={
                "ExtendedPayloadSize": {"DataType": "Number", "StringValue": str(len(payload))}
            },
        )

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(send, range(count)))
    print(f"  {count} pointer messages in {name}, objects of {size:,} bytes in s3://{BUCKET}")
    return name


def reference_script(endpoint: str, name: str, threads: int) -> int:
    sqs, s3 = client(endpoint), client(endpoint, "s3")
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    held, messages = [], []
    while batch := receive_held(sqs, url):
        held += [m["ReceiptHandle"] for m in batch]
        messages += batch

    def fetch(message: dict[str, Any]) -> str:
        _, where = json.loads(message["Body"])
        body = s3.get_object(Bucket=where["s3BucketName"], Key=where["s3Key"])["Body"].read()
        return json.dumps({"id": message["MessageId"], "body": body.decode()})

    out = sys.stdout
    with ThreadPoolExecutor(threads) as pool:
        for line in pool.map(fetch, messages):
            out.write(line + "\n")
    release(sqs, url, held)
    return len(messages)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--endpoint", default=LOCALSTACK)
    parser.add_argument("--script-only", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.script_only:
        reference_script(args.endpoint, args.script_only, args.threads)
        return
    print(f"tail --payloads resolve of {args.messages} pointer messages on {args.endpoint}")
    name = new_pointer_queue(args.endpoint, args.messages, args.size)
    env = msgctl_env(args.endpoint) | {"MSGCTL_READ_WORKERS": str(args.threads)}
    command = [MSGCTL, "tail", f"sqs:{name}", "--payloads", "resolve", "-o", "ndjson", "--hold", "60"]
    script = [sys.executable, __file__, "--script-only", name, "--endpoint", args.endpoint]
    script += ["--threads", str(args.threads)]

    def lines(run: subprocess.CompletedProcess[str], what: str) -> int:
        if run.returncode != 0:
            sys.exit(f"{what} exited {run.returncode}: {run.stderr[-500:]}")
        count = run.stdout.count("\n")
        if count != args.messages:
            sys.exit(f"{what} printed {count} messages, not {args.messages}")
        return count

    def ours() -> int:
        return lines(subprocess.run(command, env=env, capture_output=True, text=True), "msgctl tail")

    def theirs() -> int:
        return lines(subprocess.run(script, capture_output=True, text=True), "the boto3 script")

    ratios = interleaved_ratios(
        args.rounds,
        ("msgctl tail --payloads resolve (whole process)", ours),
        (f"boto3 script, {args.threads} threads for S3", theirs),
        "messages",
    )
    print(f"  tail / script: {spread(ratios)}")
    result(
        f"tail --payloads resolve of {args.messages} pointers / boto3 script, {args.threads} threads",
        statistics.median(ratios),
        ">= 0.9x",
    )


if __name__ == "__main__":
    main()
