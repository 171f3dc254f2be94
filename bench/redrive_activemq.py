"""ActiveMQ redrive speed: `msgctl dlq redrive` beside a hand-written transactional stomp.py mover (SEND +
ACK in transactions of 100, a receipt on each COMMIT) moving the same number of messages.

Run: .venv/bin/python bench/redrive_activemq.py [--messages 3000] [--broker stomp://127.0.0.1:61613]
(a broker must run, e.g. `msgctl sandbox up`). Goal: at least 0.9x the hand-written mover.
"""

from __future__ import annotations

import argparse
import os
import queue
import subprocess
import time
import uuid
from typing import Any

import stomp
from common import MSGCTL, result


class Inbox:
    def __init__(self) -> None:
        self.frames: queue.Queue[Any] = queue.Queue()
        self.receipts: queue.Queue[Any] = queue.Queue()

    def on_message(self, frame: Any) -> None:
        self.frames.put(frame)

    def on_receipt(self, frame: Any) -> None:
        self.receipts.put(frame)


def connect(host: str, port: int) -> tuple[Any, Inbox]:
    conn = stomp.Connection12([(host, port)], auto_decode=False)
    inbox = Inbox()
    conn.set_listener("bench", inbox)
    conn.connect(wait=True)
    return conn, inbox


def fill(conn: Any, inbox: Inbox, name: str, count: int) -> None:
    for n in range(count):
        headers = {"persistent": "true", "n": str(n)}
        if n == count - 1:
            headers["receipt"] = "filled"
        conn.send(f"/queue/{name}", b"x" * 200, headers=headers)
    while inbox.receipts.get(timeout=60).headers.get("receipt-id") != "filled":
        pass


def reference_mover(conn: Any, inbox: Inbox, source: str, target: str, count: int) -> None:
    conn.subscribe(
        f"/queue/{source}", id="mover", ack="client-individual", headers={"activemq.prefetchSize": "100"}
    )
    moved = 0
    while moved < count:
        transaction = conn.begin()
        batch = [inbox.frames.get(timeout=10) for _ in range(min(100, count - moved))]
        for frame in batch:
            conn.send(
                f"/queue/{target}", frame.body, headers={"persistent": "true", "transaction": transaction}
            )
            conn.ack(frame.headers["ack"], transaction=transaction)
        receipt = uuid.uuid4().hex
        conn.commit(transaction=transaction, headers={"receipt": receipt})
        while inbox.receipts.get(timeout=10).headers.get("receipt-id") != receipt:
            pass
        moved += len(batch)
    conn.unsubscribe("mover")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--broker", default=os.environ.get("MSGCTL_BROKER", "stomp://127.0.0.1:61613"))
    args = parser.parse_args()
    host, port = args.broker.removeprefix("stomp://").split(":")
    conn, inbox = connect(host, int(port))
    run = uuid.uuid4().hex[:8]
    msgctl = MSGCTL
    fill(conn, inbox, f"DLQ.bench-{run}-a", args.messages)
    start = time.perf_counter()
    subprocess.run(
        [
            msgctl,
            "-q",
            "--broker",
            args.broker,
            "dlq",
            "redrive",
            f"amq:queue/DLQ.bench-{run}-a",
            "--to",
            f"amq:queue/bench-{run}-a",
            "--yes",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    ours = time.perf_counter() - start
    fill(conn, inbox, f"DLQ.bench-{run}-b", args.messages)
    start = time.perf_counter()
    reference_mover(conn, inbox, f"DLQ.bench-{run}-b", f"bench-{run}-b", args.messages)
    theirs = time.perf_counter() - start
    conn.disconnect()
    print(f"{args.messages:,} messages on {args.broker}")
    print(f"  msgctl dlq redrive (whole process)          {ours:6.2f} s {args.messages / ours:8,.0f} msg/s")
    print(
        f"  stomp.py transactional mover (in process)   {theirs:6.2f} s {args.messages / theirs:8,.0f} msg/s"
    )
    print(f"  msgctl / reference speed: {theirs / ours:.2f}x")
    result("dlq redrive / transactional stomp.py mover (ActiveMQ)", theirs / ours, ">= 0.9x")


if __name__ == "__main__":
    main()
