"""Replay speed on LocalStack: `msgctl replay` (ledger on, whole process) beside a hand-written boto3 batch
sender (in process) that sends the same envelopes into a FIFO queue: send_message_batch of 10, the same
group and deduplication ids, no ledger. Two pairings: msgctl at its defaults (4 workers, lanes by group)
against the plain one-thread sender, and both with the same number of threads.

Run: .venv/bin/python bench/replay.py [--messages 3000] [--groups 10] [--threads 1] [--rounds 3]
(start LocalStack first with .ci/localstack). Goal: at least 0.9x the hand-written sender.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import subprocess
import tempfile
import threading
import uuid
from typing import Any

from common import LOCALSTACK, MSGCTL, client, msgctl_env, result, spread, timed


def envelopes(count: int, groups: int) -> list[dict[str, Any]]:
    return [
        {
            "channel": "sqs:captured.fifo",
            "id": f"orig-{n}",
            "body": json.dumps({"order": n, "note": "x" * 180}),
            "attributes": {"group_id": f"g{n % groups}"},
            "message_attributes": {
                "kind": {"type": "String", "value": "order"},
                "seq": {"type": "Number", "value": str(n)},
            },
        }
        for n in range(count)
    ]


def reference_sender(sqs: Any, url: str, items: list[dict[str, Any]], threads: int) -> None:
    """Each thread sends its share of the groups, in order, in batches of 10."""
    lanes: list[list[dict[str, Any]]] = [[] for _ in range(threads)]
    for item in items:
        lanes[hash(item["attributes"]["group_id"]) % threads].append(item)

    def send(lane: list[dict[str, Any]]) -> None:
        for start in range(0, len(lane), 10):
            entries = [
                {
                    "Id": str(n),
                    "MessageBody": item["body"],
                    "MessageGroupId": item["attributes"]["group_id"],
                    "MessageDeduplicationId": hashlib.sha256(item["id"].encode()).hexdigest(),
                    "MessageAttributes": {
                        name: {"DataType": a["type"], "StringValue": a["value"]}
                        for name, a in item["message_attributes"].items()
                    },
                }
                for n, item in enumerate(lane[start : start + 10])
            ]
            response = sqs.send_message_batch(QueueUrl=url, Entries=entries)
            assert not response.get("Failed"), response["Failed"]

    workers = [threading.Thread(target=send, args=(lane,)) for lane in lanes if lane]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--groups", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1, help="threads of the equal pairing")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--endpoint", default=LOCALSTACK)
    args = parser.parse_args()
    sqs = client(args.endpoint)
    env = msgctl_env(args.endpoint)
    msgctl = MSGCTL
    items = envelopes(args.messages, args.groups)
    print(
        f"replay of {args.messages:,} envelopes in {args.groups} groups into a FIFO queue on {args.endpoint}"
    )
    with tempfile.TemporaryDirectory() as scratch:
        source = f"{scratch}/in.ndjson"
        with open(source, "w") as handle:
            handle.writelines(json.dumps(item) + "\n" for item in items)

        def ours(concurrency: int | None) -> float:
            name = fifo_queue(sqs).rsplit("/", 1)[-1]
            command = [msgctl, "-q", "replay", source, "--to", f"sqs:{name}", "--dedup-id", "message-id"]
            command += ["--ledger", f"{scratch}/{name}.sqlite"]
            command += ["--concurrency", str(concurrency)] if concurrency else []
            label = f"--concurrency {concurrency}" if concurrency else "defaults"
            return timed(
                f"msgctl replay, {label} (ledger on)",
                args.messages,
                lambda: subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL),
            )

        def theirs(threads: int) -> float:
            url = fifo_queue(sqs)
            return timed(
                f"boto3 batch sender, {threads} thread(s)",
                args.messages,
                lambda: reference_sender(sqs, url, items, threads),
            )

        at_defaults, with_equal_threads = [], []
        for _ in range(args.rounds):  # interleaved, so LocalStack's drift hits both sides alike
            at_defaults.append(ours(None) / theirs(1))
            with_equal_threads.append(ours(args.threads) / theirs(args.threads))
    print(f"  msgctl at its defaults / the one-thread sender: {spread(at_defaults)}")
    result(
        "replay (defaults) / one-thread boto3 batch sender (LocalStack FIFO)",
        statistics.median(at_defaults),
        ">= 0.9x",
    )
    result(
        f"replay --concurrency {args.threads} / boto3 sender, {args.threads} thread(s)",
        statistics.median(with_equal_threads),
        ">= 0.9x",
    )
    print(f"  msgctl, {args.threads} worker(s) / a sender with as many threads: {spread(with_equal_threads)}")


def fifo_queue(sqs: Any) -> str:
    name = f"bench-replay-{uuid.uuid4().hex[:8]}.fifo"
    return str(sqs.create_queue(QueueName=name, Attributes={"FifoQueue": "true"})["QueueUrl"])


if __name__ == "__main__":
    main()
