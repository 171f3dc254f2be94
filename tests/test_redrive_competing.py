"""Several redrive processes on one DLQ, as competing consumers, each with its own journal: every message
arrives, the DLQ ends empty, and a message that arrived twice is named by some process."""

import json
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from msgctl.core.journal import Journal
from msgctl.core.redrive import Dead, RedriveOptions, RedriveReport, redrive, resume
from tests.helpers import boto3_client, dead_letter_pair, depth, drain, msgctl_env
from tests.test_redrive_core import FakeDlq, FakeTarget

MESSAGES = 1500  # (bench/redrive_competing.py measures 6,000; the suite stays under 15 min)
PROCESSES = 3


@pytest.mark.slow
def test_three_processes_on_one_dlq_move_every_message_and_name_any_duplicate(
    localstack_endpoint, unique, tmp_path
):
    sqs = boto3_client("sqs", localstack_endpoint)
    url, dlq, ids = dead_letter_pair(sqs, unique, MESSAGES)
    started = time.monotonic()
    command = [sys.executable, "-m", "msgctl", "-o", "json", "dlq", "redrive", f"sqs:{unique}-dlq"]
    command += ["--engine", "client", "--yes"]
    processes = [
        subprocess.Popen(
            [*command, "--journal", str(tmp_path / f"journal-{n}.sqlite")],
            env=msgctl_env(localstack_endpoint),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(PROCESSES)
    ]
    outputs = [process.communicate(timeout=180) for process in processes]
    took = time.monotonic() - started
    reports = []
    for process, (stdout, stderr) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, stderr
        reports.append(json.loads(stdout))
    print(f"{PROCESSES} processes moved {[r['moved'] for r in reports]} in {took:.1f} s")
    assert sum(r["moved"] for r in reports) >= MESSAGES
    assert all(r["moved"] > 0 for r in reports), "each process took a share"
    assert depth(sqs, dlq) == 0, "the DLQ is empty"
    arrived = Counter(json.loads(m["Body"])["n"] for m in drain(sqs, url, MESSAGES, timeout=120))
    assert set(arrived) == set(range(MESSAGES)), "every message arrived"
    named = {i for r in reports for i in r["possible_duplicates"]}
    by_number = {n: message_id for message_id, n in ids.items()}
    duplicated = {by_number[n] for n, count in arrived.items() if count > 1}
    assert duplicated <= named, "every message that arrived twice is named"


# Another consumer can receive a message only while it is visible: when this run's hold on it may have ended
# before this run deleted it, this run names it.


class LosingHoldDlq(FakeDlq):
    """The hold of ``lost`` cannot be extended (another consumer received it meanwhile, say)."""

    def __init__(self, count: int, lost: set[str]) -> None:
        super().__init__(count)
        self.lost_holds = lost

    def extend(self, messages: list[Dead], hold_s: int) -> list[tuple[Dead, str]]:
        super().extend(messages, hold_s)
        return [(m, "ReceiptHandleIsInvalid") for m in messages if m.id in self.lost_holds]


class SlowFirstBatch(FakeTarget):
    def send(self, messages):
        if any(m.id == "m0" for m in messages):
            time.sleep(2.3)  # past the 2 s receive hold: only extensions keep the batch hidden
        return super().send(messages)


def _run(source, tmp_path):
    journal = Journal(tmp_path / "journal.sqlite")
    report = RedriveReport()
    try:
        redrive(source, SlowFirstBatch(), journal, RedriveOptions(hold_s=2), report)
        details = {e.message_id: e.detail for e in journal.in_state("deleted")}
    finally:
        journal.close()
    return report, details


def test_a_message_whose_hold_could_not_be_extended_is_named_once_deleted_late(tmp_path) -> None:
    report, details = _run(LosingHoldDlq(20, lost={"m0"}), tmp_path)
    assert report.moved == 20 and report.failed == {}
    assert "m0" in report.possible_duplicates, "its hold ended before its delete"
    assert "hold may have ended" in (details["m0"] or "")
    assert not set(report.possible_duplicates) & {f"m{n}" for n in range(10, 20)}, "the quick batch held"


def test_a_failing_heartbeat_names_what_was_deleted_after_the_receive_hold(tmp_path) -> None:
    report, _ = _run(FakeDlq(20, extend_fails=True), tmp_path)
    assert report.moved == 20
    assert {f"m{n}" for n in range(10)} <= set(report.possible_duplicates)


def test_resume_names_what_it_sent_but_can_no_longer_delete(tmp_path) -> None:
    source = FakeDlq(3)
    journal = Journal(tmp_path / "journal.sqlite")
    journal.received([("m0", "expired-receipt"), ("m1", "also-expired")])
    journal.mark(["m0", "m1"], "sent")
    report = RedriveReport()
    resume(source, journal, report, copy=False)
    journal.close()
    assert sorted(report.possible_duplicates) == ["m0", "m1"], (
        "another consumer may have moved them once visible"
    )


@pytest.mark.slow
def test_a_process_stalled_past_its_hold_names_what_another_moved_meanwhile(
    localstack_endpoint, unique, tmp_path
):
    """One of two processes is stopped (SIGSTOP, as a long GC pause or a suspended laptop would) for longer
    than its hold: what it held becomes visible and the other process moves it; once it goes on, it sends
    and deletes what it had at hand, and names those."""
    sqs = boto3_client("sqs", localstack_endpoint)
    count = 600
    url, dlq, ids = dead_letter_pair(sqs, unique, count)
    command = [sys.executable, "-m", "msgctl", "-o", "json", "dlq", "redrive", f"sqs:{unique}-dlq"]
    command += ["--engine", "client", "--yes", "--hold", "10"]
    stalled, other = (
        subprocess.Popen(
            [*command, "--journal", str(tmp_path / f"journal-{n}.sqlite"), "--rate", str(rate)],
            env=msgctl_env(localstack_endpoint),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n, rate in enumerate((1000, 40))
    )
    deadline = time.monotonic() + 60
    while depth(sqs, url) < 100:  # both under way
        assert time.monotonic() < deadline and stalled.poll() is None
        time.sleep(0.02)
    stalled.send_signal(signal.SIGSTOP)
    time.sleep(12)  # the stall itself: longer than the hold (10 s) it last extended
    stalled.send_signal(signal.SIGCONT)
    outputs = [process.communicate(timeout=120) for process in (stalled, other)]
    reports = [json.loads(stdout) for stdout, _ in outputs]
    assert other.returncode == 0, outputs[1][1]
    assert stalled.returncode in (0, 3), outputs[0][1]  # 3: a delete with a receipt the other made stale
    assert depth(sqs, dlq) == 0
    arrived = Counter(json.loads(m["Body"])["n"] for m in drain(sqs, url, count, timeout=60))
    assert set(arrived) == set(range(count)), "every message arrived"
    by_number = {n: message_id for message_id, n in ids.items()}
    duplicated = {by_number[n] for n, times in arrived.items() if times > 1}
    print(f"duplicated {len(duplicated)}, named {[len(r['possible_duplicates']) for r in reports]}")
    assert duplicated <= {i for r in reports for i in r["possible_duplicates"]}, "every duplicate is named"
