"""Large inputs: `msgctl replay --dry-run` and `msgctl filter test --input` over generated envelope files
(500,000 and, unless --quick, 5,000,000), each a whole process, timed and measured by its peak resident
memory (every process it forks included), beside a plain Python loop that parses each line with orjson and
hashes its body.

Run: .venv/bin/python bench/replay_scale.py [--messages 500000] [--large 5000000] [--quick]
The target queue is on a moto server of the script's own (a dry run only looks the queue up), so a busy
LocalStack does not take a core from the dry run's parallel first pass. Goals (issue 19): the dry run within
3x the plain loop, in at most 200 MB at any size; filter test in bounded memory at the plain loop's speed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from common import MSGCTL, client, msgctl_env, spread

PLAIN_LOOP = textwrap.dedent(
    """
    import hashlib, sys, orjson
    with open(sys.argv[1], "rb") as lines:
        for line in lines:
            hashlib.sha256(orjson.loads(line)["body"].encode()).hexdigest()
    """
)
# Runs a command with its output to a file; prints its exit code and the peak resident memory (KiB) of
# the largest process among it and what it forked.
MEASURED = textwrap.dedent(
    """
    import resource, subprocess, sys
    with open(sys.argv[1], "wb") as out:
        code = subprocess.run(sys.argv[2:], stdout=out).returncode
    print(code, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    """
)


def generate(path: Path, count: int, groups: int = 50) -> None:
    import orjson

    with path.open("wb") as out:
        for n in range(count):
            envelope = {
                "channel": "sqs:captured.fifo",
                "id": f"6f1c2a8e-0000-4000-8000-{n:012d}",
                "body": json.dumps({"order": n, "customer": f"c{n % 977}", "note": "x" * 160}),
                "attributes": {"group_id": f"g{n % groups}", "sent_timestamp": "1764547200000"},
                "message_attributes": {
                    "kind": {"type": "String", "value": "order"},
                    "seq": {"type": "Number", "value": str(n)},
                },
            }
            out.write(orjson.dumps(envelope) + b"\n")


def measured(command: list[str], output: Path, env: dict[str, str] | None = None) -> tuple[float, float]:
    """Seconds and peak resident MB of a whole process."""
    start = time.perf_counter()
    run = subprocess.run(
        [sys.executable, "-c", MEASURED, str(output), *command], capture_output=True, text=True, env=env
    )
    seconds = time.perf_counter() - start
    code, peak_kb = (int(field) for field in run.stdout.split())
    if code:
        sys.exit(f"{command[:4]}... exited {code}: {run.stderr[-800:]}")
    return seconds, peak_kb / 1024


def row(label: str, seconds: float, peak_mb: float) -> None:
    print(f"  {label:<58} {seconds:7.2f} s {peak_mb:7.0f} MB", flush=True)


def compare(workdir: Path, count: int, queue: str, env: dict[str, str], rounds: int) -> None:
    source = workdir / f"{count}.ndjson"
    start = time.perf_counter()
    generate(source, count)
    megabytes = source.stat().st_size / 2**20
    print(f"{count:,} envelopes, {megabytes:,.0f} MB (generated in {time.perf_counter() - start:.0f} s)")
    plain = [sys.executable, "-c", PLAIN_LOOP, str(source)]
    dry = [MSGCTL, "-o", "json", "replay", str(source), "--to", f"sqs:{queue}", "--dry-run"]
    counting = [MSGCTL, "filter", "test", '{"kind": ["order"]}', "--input", str(source), "--count"]
    runs: dict[str, list[tuple[float, float]]] = {"plain": [], "dry": [], "scan": []}
    for _ in range(rounds):  # interleaved: this machine's speed drifts from one minute to the next
        runs["plain"].append(measured(plain, workdir / "plain.out"))
        row("plain loop: orjson.loads + sha256 of the body", *runs["plain"][-1])
        runs["dry"].append(measured(dry, workdir / "dry.json", env))
        assert json.loads((workdir / "dry.json").read_text())["would_send"] == count
        row("msgctl replay --dry-run -o json", *runs["dry"][-1])
        runs["scan"].append(measured(counting, workdir / "f"))
        assert int((workdir / "f").read_text()) == count
        row("msgctl filter test --input --count", *runs["scan"][-1])
    label = f"{count // 1000:,}k envelopes"
    ratios = [p / d for (p, _), (d, _) in zip(runs["plain"], runs["dry"], strict=True)]
    scans = [p / f for (p, _), (f, _) in zip(runs["plain"], runs["scan"], strict=True)]
    dry_mb, scan_mb = max(mb for _, mb in runs["dry"]), max(mb for _, mb in runs["scan"])
    print(f"  dry run / plain loop: {spread(ratios)}; filter test / plain loop: {spread(scans)}")
    print(
        f"RESULT\treplay --dry-run, {label}: time vs plain loop\t{statistics.median(ratios):.2f}x\t>= 0.33x"
    )
    print(f"RESULT\treplay --dry-run, {label}: peak resident\t{dry_mb:.0f} MB\t<= 200 MB")
    print(f"RESULT\tfilter test --count, {label}: time vs plain loop\t{statistics.median(scans):.2f}x\t-")
    print(f"RESULT\tfilter test --count, {label}: peak resident\t{scan_mb:.0f} MB\tbounded")
    source.unlink()


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield endpoint
    finally:
        server.terminate()
        server.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=500_000)
    parser.add_argument("--large", type=int, default=5_000_000)
    parser.add_argument("--rounds", type=int, default=3, help="rounds over the smaller input")
    parser.add_argument("--quick", action="store_true", help="skip the large input")
    args = parser.parse_args()
    queue = "bench-scale.fifo"
    with moto_server() as endpoint, tempfile.TemporaryDirectory(prefix="msgctl-bench-") as workdir:
        client(endpoint).create_queue(QueueName=queue, Attributes={"FifoQueue": "true"})
        env = {**msgctl_env(endpoint), "XDG_STATE_HOME": workdir}
        compare(Path(workdir), args.messages, queue, env, args.rounds)
        if not args.quick:
            compare(Path(workdir), args.large, queue, env, 1)


if __name__ == "__main__":
    main()
