"""kill -9 of msgctl at random points of redrive and replay (seeded), each followed by --resume or a rerun:
every message is accounted for, read directly from the queues."""

import json
import random
import signal
import subprocess
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.helpers import boto3_client, dead_letter_pair, depth, drain, msgctl_command, msgctl_env

TRIALS = 12  # seeded kill points a test; each trial is a whole run (the suite stays under 15 min)
SEED = 9


def _killed_after(command, env, seconds) -> bool:
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        process.wait(timeout=seconds)  # it may finish before its kill comes: a trial like any other
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGKILL)
        process.wait()
        return True
    return False


def _finish(command, env):
    """Run until the job reports done; returns the names of possible duplicates it gave."""
    named = set()
    for _ in range(3):
        run = subprocess.run(command, env=env, capture_output=True, text=True)
        if run.returncode == 2 and "--resume" in run.stderr:  # the journal holds unfinished work
            command = [*command, "--resume"]
            continue
        assert run.returncode == 0, run.stderr
        report = json.loads(run.stdout)
        named |= {d if isinstance(d, str) else d["id"] for d in report["possible_duplicates"]}
        return named
    raise AssertionError("did not finish")


@pytest.mark.slow
def test_kill_9_at_random_points_of_redrive_then_resume_loses_nothing_and_names_duplicates(
    localstack_endpoint, unique, tmp_path
):
    sqs, env, chooser = (
        boto3_client("sqs", localstack_endpoint),
        msgctl_env(localstack_endpoint),
        random.Random(SEED),
    )

    def resume_and_check(url, dlq, ids, command, named):
        named |= _finish(command, env)
        assert depth(sqs, dlq) == 0, "the DLQ was emptied"
        moved = Counter(json.loads(m["Body"])["n"] for m in drain(sqs, url, 40))
        assert set(moved) == set(range(40)), "no message lost"
        duplicated = {n for n, count in moved.items() if count > 1}
        assert duplicated <= {ids[i] for i in named}, "every duplicate is named"
        assert len(duplicated) <= 2 * 10, "at most one batch per worker"

    # The kills run one at a time, so each meets a run of its own; the resume after each (which waits for
    # what the killed run held, mostly asleep) runs beside the next trials.
    trials, killed = [], 0
    with ThreadPoolExecutor(TRIALS) as resuming:
        for trial in range(TRIALS):
            name = f"{unique}-{trial}"
            url, dlq, ids = dead_letter_pair(sqs, name, 40)
            command = msgctl_command("dlq", "redrive", f"sqs:{name}-dlq", "--yes", "--engine", "client")
            command += ["--hold", "10", "--concurrency", "2", "--journal", str(tmp_path / f"{trial}.sqlite")]
            killed += _killed_after([*command, "--rate", "60"], env, chooser.uniform(0.4, 1.4))
            trials.append((url, dlq, ids, command, resuming.submit(_finish, command, env)))
        last_kill = time.monotonic()
    assert killed >= TRIALS // 2, "most trials are killed part-way"
    # What a killed run received before journaling it stays hidden until its 10 s hold ends.
    time.sleep(max(0.0, last_kill + 11 - time.monotonic()))
    with ThreadPoolExecutor(4) as checking:
        checks = [checking.submit(resume_and_check, *trial[:4], trial[4].result()) for trial in trials]
    for check in checks:
        check.result()


@pytest.mark.slow
def test_kill_9_at_random_points_of_replay_then_a_rerun_delivers_every_message_naming_duplicates(
    localstack_endpoint, unique, tmp_path
):
    sqs, env, chooser = (
        boto3_client("sqs", localstack_endpoint),
        msgctl_env(localstack_endpoint),
        random.Random(SEED),
    )
    source = tmp_path / "in.ndjson"
    source.write_text("".join(json.dumps({"id": f"m{n}", "body": f"b{n}"}) + "\n" for n in range(60)))

    def rerun_and_check(url, command):
        named = _finish(command, env)
        received = Counter(m["Body"] for m in drain(sqs, url, 60))
        assert set(received) == {f"b{n}" for n in range(60)}, "every message delivered"
        duplicated = {body.replace("b", "m", 1) for body, count in received.items() if count > 1}
        assert duplicated <= named, "every duplicate is named"
        assert len(duplicated) <= 2 * 10, "at most one batch per worker"

    # The kills run one at a time; the rerun and the check after each run beside the next trials.
    killed, checks = 0, []
    with ThreadPoolExecutor(4) as checking:
        for trial in range(TRIALS):
            url = sqs.create_queue(QueueName=f"{unique}-{trial}")["QueueUrl"]
            command = msgctl_command(
                "replay", str(source), "--to", f"sqs:{unique}-{trial}", "--concurrency", "2"
            )
            command += ["--ledger", str(tmp_path / f"{trial}.sqlite")]
            killed += _killed_after([*command, "--rate", "80"], env, chooser.uniform(0.4, 1.2))
            checks.append(checking.submit(rerun_and_check, url, command))
    for check in checks:
        check.result()
    assert killed >= TRIALS // 2, "most trials are killed part-way"
