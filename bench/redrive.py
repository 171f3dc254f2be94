"""Redrive speed on LocalStack: msgctl (client engine, journal on) beside a hand-written boto3 mover with the
same concurrency (batches of 10, no journal) and a naive receive-one/send/delete loop; and msgctl repairing
each message with a jq program (--transform-body, renaming a field of every body) beside msgctl without.

Run: .venv/bin/python bench/redrive.py [--messages 3000] [--concurrency 4] [--naive 300]
(start LocalStack first with .ci/localstack). Goals: >= 0.9x the threaded mover, >= 8x the naive loop,
with a transform >= 0.8x without (issue 16).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
import threading
import uuid
from typing import Any

from common import LOCALSTACK, MSGCTL, client, fill, msgctl_env, result, spread, timed

REPAIR = ("--transform-body", 'if has("note") then .memo = .note | del(.note) else . end')


def pair(sqs: Any, count: int) -> tuple[str, str, str]:
    name = f"bench-redrive-{uuid.uuid4().hex[:8]}"
    dlq = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(
        QueueName=name,
        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": 5})},
    )["QueueUrl"]
    fill(sqs, dlq, count)
    return name, url, dlq


def threaded_mover(sqs: Any, dlq: str, url: str, threads: int) -> None:
    def work() -> None:
        while True:
            messages = sqs.receive_message(
                QueueUrl=dlq, MaxNumberOfMessages=10, WaitTimeSeconds=1, MessageAttributeNames=["All"]
            ).get("Messages", [])
            if not messages:
                return
            sent = sqs.send_message_batch(
                QueueUrl=url,
                Entries=[
                    {
                        "Id": str(n),
                        "MessageBody": m["Body"],
                        "MessageAttributes": m.get("MessageAttributes", {}),
                    }
                    for n, m in enumerate(messages)
                ],
            )
            ok = {s["Id"] for s in sent.get("Successful", [])}
            sqs.delete_message_batch(
                QueueUrl=dlq,
                Entries=[
                    {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]}
                    for n, m in enumerate(messages)
                    if str(n) in ok
                ],
            )

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def naive_loop(sqs: Any, dlq: str, url: str) -> None:
    while True:
        messages = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=1, WaitTimeSeconds=1).get(
            "Messages", []
        )
        if not messages:
            return
        sqs.send_message(QueueUrl=url, MessageBody=messages[0]["Body"])
        sqs.delete_message(QueueUrl=dlq, ReceiptHandle=messages[0]["ReceiptHandle"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--naive", type=int, default=300, help="messages for the (slow) naive loop")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--endpoint", default=LOCALSTACK)
    args = parser.parse_args()
    sqs = client(args.endpoint)
    env = msgctl_env(args.endpoint)
    msgctl = MSGCTL
    print(f"redrive on {args.endpoint}")

    def ours(*repair: str) -> float:
        name, _, _ = pair(sqs, args.messages)
        with tempfile.TemporaryDirectory() as scratch:
            command = [msgctl, "-q", "dlq", "redrive", f"sqs:{name}-dlq", "--yes", "--engine", "client"]
            command += ["--concurrency", str(args.concurrency), "--journal", f"{scratch}/journal.sqlite"]
            label = f"msgctl dlq redrive --concurrency {args.concurrency} (journal on)"
            return timed(
                label + (" + jq" if repair else ""),
                args.messages,
                lambda: subprocess.run([*command, *repair], env=env, check=True, stdout=subprocess.DEVNULL),
            )

    def theirs() -> float:
        _, url, dlq = pair(sqs, args.messages)
        return timed(
            f"boto3 mover, {args.concurrency} threads, batches of 10",
            args.messages,
            lambda: threaded_mover(sqs, dlq, url, args.concurrency),
        )

    rounds = [(ours(), theirs()) for _ in range(args.rounds)]  # interleaved against LocalStack's drift
    repaired = [(ours(*REPAIR), ours()) for _ in range(args.rounds)]
    _, url, dlq = pair(sqs, args.naive)
    naive = timed(
        f"naive receive-1/send/delete loop ({args.naive} messages)",
        args.naive,
        lambda: naive_loop(sqs, dlq, url),
    )
    ratios = [o / t for o, t in rounds]
    print(f"  msgctl / the threaded mover: {spread(ratios)}")
    print(f"  msgctl (median) / the naive loop: {statistics.median(o for o, _ in rounds) / naive:.1f}x")
    result(
        "dlq redrive --concurrency 4 / 4-thread boto3 mover (LocalStack)",
        statistics.median(ratios),
        ">= 0.9x",
    )
    repair_ratios = [with_program / without for with_program, without in repaired]
    print(f"  with --transform-body / without: {spread(repair_ratios)}")
    result(
        "dlq redrive --transform-body / without (LocalStack)",
        statistics.median(repair_ratios),
        ">= 0.8x",
    )
    result(
        "dlq redrive / naive receive-1/send/delete loop",
        statistics.median(o for o, _ in rounds) / naive,
        ">= 8x",
    )


if __name__ == "__main__":
    main()
