"""What the benchmark scripts share: a boto3 client and an environment for LocalStack, the msgctl
executable, and one way to time and print a row."""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Callable
from typing import Any

REGION = "us-east-1"
LOCALSTACK = os.environ.get("LOCALSTACK_ENDPOINT", "http://127.0.0.1:4566")
MSGCTL = shutil.which("msgctl") or f"{sys.prefix}/bin/msgctl"


def client(endpoint: str, service: str = "sqs") -> Any:
    import boto3

    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
    )


def fill(sqs: Any, url: str, count: int) -> None:
    """``count`` orders of ~200 bytes with a String attribute, in batches of 10."""
    import json

    for start in range(0, count, 10):
        sqs.send_message_batch(
            QueueUrl=url,
            Entries=[
                {
                    "Id": str(n),
                    "MessageBody": json.dumps({"order": n, "note": "x" * 180}),
                    "MessageAttributes": {"kind": {"DataType": "String", "StringValue": "order"}},
                }
                for n in range(start, min(start + 10, count))
            ],
        )


def release(sqs: Any, url: str, held: list[str]) -> None:
    """Make the received messages visible again (visibility 0), 10 receipt handles a call."""
    for start in range(0, len(held), 10):
        sqs.change_message_visibility_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(n), "ReceiptHandle": h, "VisibilityTimeout": 0}
                for n, h in enumerate(held[start : start + 10])
            ],
        )


def msgctl_env(endpoint: str) -> dict[str, str]:
    """msgctl's environment pointed at ``endpoint`` with throwaway credentials."""
    return {
        **os.environ,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
    }


def timed(label: str, count: int, action: Any) -> float:
    """Run ``action``, print a row, return messages per second."""
    start = time.perf_counter()
    action()
    seconds = time.perf_counter() - start
    print(f"  {label:<52} {seconds:7.2f} s {count / seconds:8,.0f} msg/s")
    return count / seconds


def clock(label: str, action: Callable[[], int], unit: str = "messages") -> float:
    """Run ``action`` (it returns how many ``unit`` it handled), print a row, return the seconds."""
    start = time.perf_counter()
    count = action()
    seconds = time.perf_counter() - start
    rate = f"{count / seconds:8,.0f} {unit}/s ({count:,} {unit})" if count else f"(no {unit})"
    print(f"  {label:<56} {seconds:7.2f} s {rate}")
    return seconds


def interleaved_ratios(
    rounds: int, ours: tuple[str, Callable[[], int]], reference: tuple[str, Callable[[], int]], unit: str
) -> list[float]:
    """The reference's seconds over ours, a round at a time: interleaved, so LocalStack's drift hits both
    alike."""
    ratios = []
    for _ in range(rounds):
        mine = clock(*ours, unit)
        ratios.append(clock(*reference, unit) / mine)
    return ratios


def receive_held(sqs: Any, url: str) -> list[dict[str, Any]]:
    """One receive of up to 10 messages with every attribute, held for a minute (a snapshot's receive)."""
    messages: list[dict[str, Any]] = sqs.receive_message(
        QueueUrl=url,
        MaxNumberOfMessages=10,
        VisibilityTimeout=60,
        WaitTimeSeconds=1,
        AttributeNames=["All"],
        MessageAttributeNames=["All"],
    ).get("Messages", [])
    return messages


def spread(ratios: list[float]) -> str:
    """The median ratio, with the range over the rounds."""
    import statistics

    return f"{statistics.median(ratios):.2f}x (rounds: {min(ratios):.2f}-{max(ratios):.2f}x)"


def result(comparison: str, ratio: float, goal: str) -> None:
    """One line that bench/all.py collects into its table."""
    print(f"RESULT\t{comparison}\t{ratio:.2f}x\t{goal}")
