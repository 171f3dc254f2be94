"""Large inputs: `msgctl replay --dry-run` and `msgctl filter test --input` over generated envelope files
(500,000 and, unless --quick, 5,000,000), each a whole process, timed and measured by its peak resident
memory (every process it forks included), beside a plain Python loop that parses each line with orjson and
hashes its body.

Run: .venv/bin/python bench/replay_scale.py [--messages 500000] [--large 5000000] [--quick]
(needs LocalStack: .ci/localstack). Goals (issue 19): the dry run within 3x the plain loop, in at most
200 MB at any size; filter test in bounded memory at the plain loop's speed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path

from common import LOCALSTACK, MSGCTL, client, msgctl_env

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


def compare(workdir: Path, count: int, queue: str, env: dict[str, str]) -> None:
    source = workdir / f"{count}.ndjson"
    start = time.perf_counter()
    generate(source, count)
    megabytes = source.stat().st_size / 2**20
    print(f"{count:,} envelopes, {megabytes:,.0f} MB (generated in {time.perf_counter() - start:.0f} s)")
    plain = measured([sys.executable, "-c", PLAIN_LOOP, str(source)], workdir / "plain.out")
    row("plain loop: orjson.loads + sha256 of the body", *plain)
    dry = [MSGCTL, "-o", "json", "replay", str(source), "--to", f"sqs:{queue}", "--dry-run"]
    dry_run = measured(dry, workdir / "dry.json", env)
    summary = json.loads((workdir / "dry.json").read_text())
    assert summary["would_send"] == count, summary
    row("msgctl replay --dry-run -o json", *dry_run)
    scan = measured(
        [MSGCTL, "filter", "test", '{"kind": ["order"]}', "--input", str(source), "--count"], workdir / "f"
    )
    assert int((workdir / "f").read_text()) == count
    row("msgctl filter test --input --count", *scan)
    label = f"{count // 1000:,}k envelopes"
    print(
        f"RESULT\treplay --dry-run, {label}: time vs plain loop\t{plain[0] / dry_run[0]:.2f}x\t>= 0.33x (3x)"
    )
    print(f"RESULT\treplay --dry-run, {label}: peak resident\t{dry_run[1]:.0f} MB\t<= 200 MB")
    print(f"RESULT\tfilter test --count, {label}: time vs plain loop\t{plain[0] / scan[0]:.2f}x\t-")
    print(f"RESULT\tfilter test --count, {label}: peak resident\t{scan[1]:.0f} MB\tbounded")
    source.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=500_000)
    parser.add_argument("--large", type=int, default=5_000_000)
    parser.add_argument("--quick", action="store_true", help="skip the large input")
    args = parser.parse_args()
    queue = f"bench-scale-{uuid.uuid4().hex[:8]}.fifo"
    sqs = client(LOCALSTACK)
    url = sqs.create_queue(QueueName=queue, Attributes={"FifoQueue": "true"})["QueueUrl"]
    env = msgctl_env(LOCALSTACK)
    try:
        with tempfile.TemporaryDirectory(prefix="msgctl-bench-") as workdir:
            env["XDG_STATE_HOME"] = workdir
            for count in [args.messages] if args.quick else [args.messages, args.large]:
                compare(Path(workdir), count, queue, env)
    finally:
        sqs.delete_queue(QueueUrl=url)


if __name__ == "__main__":
    main()
