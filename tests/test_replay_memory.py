"""Replay in bounded memory: 200,000 generated envelopes, measured by the resident memory of the process
that replays them (its peak, from the kernel), against what the same process held before it began."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

MESSAGES = 200_000
GROWTH_LIMIT_MB = 60  # holding the messages takes well over 500 MB at this count

pytestmark = pytest.mark.slow


def generate(path, count, groups=40):
    with open(path, "w") as out:
        for n in range(count):
            envelope = {
                "channel": "sqs:captured.fifo",
                "id": f"orig-{n}",
                "body": json.dumps({"order": n, "note": "x" * 150}),
                "attributes": {"group_id": f"g{n % groups}"},
                "message_attributes": {"seq": {"type": "Number", "value": str(n)}},
            }
            out.write(json.dumps(envelope) + "\n")
    return str(path)


@pytest.fixture(scope="module")
def big_input(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("replay-memory") / "in.ndjson", MESSAGES)


SENDING = textwrap.dedent(
    """
    import json, resource, sys, threading
    from pathlib import Path
    from msgctl.core.ledger import Ledger
    from msgctl.core.outbound import Delivery
    from msgctl.core.replay import ReplayOptions, ReplayPlan, ReplayReport, planned, prepare, replay
    from msgctl.core.replay_input import ReplayInput

    class Target:  # takes every batch at once: the replay's own memory is what is measured
        channel, fifo, dedups, ordered, batch_size = "memory", True, True, True, 100
        def __init__(self):
            self.sent, self.order, self.lock = 0, {}, threading.Lock()
        def check(self, message):
            pass
        def send(self, messages):
            with self.lock:
                self.sent += len(messages)
                for m in messages:  # each group's order: its last sequence number must grow
                    seq = int(m.envelope.message_attributes["seq"].value)
                    assert self.order.get(m.group_id, -1) < seq
                    self.order[m.group_id] = seq
            return Delivery()

    def peak_kb():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    before = peak_kb()
    target, report, plan = Target(), ReplayReport(), ReplayPlan(fifo=True)
    ledger = Ledger(Path(sys.argv[2]))
    with ReplayInput.of_path(Path(sys.argv[1])) as source:
        found = prepare(source, plan, report)
        replay(planned(source, found, plan), target, ledger, ReplayOptions(), report)
    print(json.dumps({"sent": target.sent, "replayed": report.replayed, "ledger": ledger.counts(),
                      "before_kb": before, "peak_kb": peak_kb()}))
    """
)


def test_a_replay_of_200000_envelopes_sends_them_all_in_bounded_memory(big_input, tmp_path):
    run = subprocess.run(
        [sys.executable, "-c", SENDING, big_input, str(tmp_path / "ledger.sqlite")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(run.stdout)
    assert result["sent"] == result["replayed"] == MESSAGES
    assert result["ledger"] == {"sent": MESSAGES}
    growth_mb = (result["peak_kb"] - result["before_kb"]) / 1024
    assert growth_mb < GROWTH_LIMIT_MB, f"the replay grew by {growth_mb:.0f} MB"


MEASURED = textwrap.dedent(
    """
    import resource, subprocess, sys
    with open(sys.argv[1], "w") as out:
        code = subprocess.run(sys.argv[2:], stdout=out).returncode
    print(code, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    """
)


def test_a_dry_run_listing_200000_envelopes_stays_small(big_input, aws, sqs, unique, tmp_path):
    """The CLI, both passes (-o ndjson lists every message on the second), in a process of its own."""
    sqs.create_queue(QueueName=f"{unique}.fifo", Attributes={"FifoQueue": "true"})
    listing = tmp_path / "listing.ndjson"
    command = [sys.executable, "-m", "msgctl", "-o", "ndjson", "replay", big_input]
    command += ["--to", f"sqs:{unique}.fifo", "--dry-run"]
    run = subprocess.run(
        [sys.executable, "-c", MEASURED, str(listing), *command],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ},
    )
    code, peak_kb = (int(field) for field in run.stdout.split())
    assert code == 0, run.stderr[-2000:]
    with open(listing) as rows:
        assert sum(1 for _ in rows) == MESSAGES
    assert peak_kb / 1024 < 150, f"the dry run peaked at {peak_kb / 1024:.0f} MB"
