"""Filter-policy evaluation speed: msgctl's compiled engine beside moto's FilterPolicyMatcher.

Run: .venv/bin/python bench/filter.py [--messages N]

1. In-process: the same policy and the same N messages through each matcher; evaluations per second.
2. Whole process: `msgctl filter test POLICY --input FILE --count` over N envelopes, beside a plain Python
   loop that reads the same file and asks moto's matcher (both include reading and parsing the NDJSON).
The filter issue's goal is 5x moto's rate on both.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from common import MSGCTL, result
from moto.sns.utils import FilterPolicyMatcher

from msgctl.envelope import Envelope, MessageAttribute
from msgctl.filter.engine import FilterPolicy
from msgctl.filter.messages import message_from_envelope

POLICY = {
    "kind": ["order", "refund"],
    "total": [{"numeric": [">", 100, "<=", 1000]}],
    "region": [{"prefix": "eu-"}],
    "channel": [{"anything-but": ["test"]}],
}


def make_envelopes(count: int) -> list[Envelope]:
    rng = random.Random(7)
    envelopes = []
    for n in range(count):
        attributes = {
            "kind": MessageAttribute("String", rng.choice(["order", "refund", "quote", "order"])),
            "total": MessageAttribute("Number", str(rng.randint(0, 2000))),
            "region": MessageAttribute("String", rng.choice(["eu-west-1", "eu-central-1", "us-east-1"])),
            "channel": MessageAttribute("String", rng.choice(["web", "mobile", "test"])),
        }
        envelopes.append(Envelope("sqs:bench", str(n), b'{"order": %d}' % n, {}, attributes))
    return envelopes


def moto_attributes(envelope: Envelope) -> dict[str, dict[str, str]]:
    return {name: {"Type": a.type, "Value": str(a.value)} for name, a in envelope.message_attributes.items()}


def moto_loop(matcher: FilterPolicyMatcher, path: Path) -> int:
    counted = 0
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            raw = json.loads(line)
            attributes = {
                k: {"Type": v["type"], "Value": str(v["value"])} for k, v in raw["message_attributes"].items()
            }
            counted += matcher.matches(attributes, raw["body"])
    return counted


def rate(label: str, seconds: float, count: int) -> float:
    per_second = count / seconds
    print(f"  {label:<44} {seconds:8.3f} s {per_second:>12,.0f} msg/s")
    return per_second


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3, help="whole-process runs of each (median)")
    args = parser.parse_args()
    envelopes = make_envelopes(args.messages)

    print(f"1. in-process, {args.messages:,} messages, policy {json.dumps(POLICY)}")
    ours_messages = [message_from_envelope(e) for e in envelopes]
    moto_messages = [(moto_attributes(e), e.text or "") for e in envelopes]
    engine = FilterPolicy(POLICY)
    start = time.perf_counter()
    ours = sum(1 for m in ours_messages if engine.matches(m))
    ours_rate = rate("msgctl FilterPolicy.matches", time.perf_counter() - start, args.messages)
    matcher = FilterPolicyMatcher(POLICY, "MessageAttributes")
    start = time.perf_counter()
    theirs = sum(1 for attributes, body in moto_messages if matcher.matches(attributes, body))
    moto_rate = rate("moto FilterPolicyMatcher.matches", time.perf_counter() - start, args.messages)
    print(f"  matches: msgctl {ours:,}, moto {theirs:,}; speed-up {ours_rate / moto_rate:.1f}x")
    result("filter engine in process / moto's matcher", ours_rate / moto_rate, ">= 5x")

    print(f"2. whole process over an NDJSON file of {args.messages:,} envelopes")
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "envelopes.ndjson"
        path.write_text("".join(e.dumps() + "\n" for e in envelopes))
        msgctl = MSGCTL
        command = [msgctl, "filter", "test", json.dumps(POLICY), "--input", str(path), "--count"]
        cli_times, loop_times = [], []
        for _ in range(args.runs):  # alternate the two, so both see the same machine load
            start = time.perf_counter()
            counted_by_msgctl = subprocess.run(command, capture_output=True, text=True, check=False)
            cli_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            counted = moto_loop(matcher, path)
            loop_times.append(time.perf_counter() - start)
        print(f"  median of {args.runs} runs each")
        cli_rate = rate("msgctl filter test --input --count", statistics.median(cli_times), args.messages)
        loop_rate = rate(
            "plain loop: json.loads + moto matcher", statistics.median(loop_times), args.messages
        )
        print(
            f"  counts: msgctl {counted_by_msgctl.stdout.strip()}, moto loop {counted:,}; "
            f"speed-up {cli_rate / loop_rate:.1f}x"
        )
    result("filter test --input --count (process) / json.loads + moto loop", cli_rate / loop_rate, ">= 5x")


if __name__ == "__main__":
    main()
