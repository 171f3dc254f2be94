"""kill -9 of msgctl at random points of redrive and replay (seeded), each followed by --resume or a rerun:
every message is accounted for, read directly from the queues."""

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter

from tests.helpers import boto3_client, dead_letter_pair, depth, drain

TRIALS = 20
SEED = 9


def _env(endpoint):
    return {
        **os.environ,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing-secret",
    }


def _msgctl(*args):
    return [sys.executable, "-m", "msgctl", "-o", "json", *args]


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


def test_kill_9_at_random_points_of_redrive_then_resume_loses_nothing_and_names_duplicates(
    localstack_endpoint, unique, tmp_path
):
    sqs, env, chooser = (
        boto3_client("sqs", localstack_endpoint),
        _env(localstack_endpoint),
        random.Random(SEED),
    )
    trials, killed = [], 0
    for trial in range(TRIALS):
        name = f"{unique}-{trial}"
        url, dlq, ids = dead_letter_pair(sqs, name, 40)
        command = _msgctl("dlq", "redrive", f"sqs:{name}-dlq", "--yes", "--engine", "client", "--hold", "10")
        command += ["--concurrency", "2", "--journal", str(tmp_path / f"{trial}.sqlite")]
        killed += _killed_after([*command, "--rate", "60"], env, chooser.uniform(0.4, 1.4))
        trials.append((url, dlq, ids, command, _finish(command, env)))
    assert killed >= TRIALS // 2, "most trials are killed part-way"
    time.sleep(11)  # what a killed run received before journaling it stays hidden until its 10 s hold ends
    for url, dlq, ids, command, named in trials:
        named |= _finish(command, env)
        assert depth(sqs, dlq) == 0, "the DLQ was emptied"
        moved = Counter(json.loads(m["Body"])["n"] for m in drain(sqs, url, 40))
        assert set(moved) == set(range(40)), "no message lost"
        duplicated = {n for n, count in moved.items() if count > 1}
        assert duplicated <= {ids[i] for i in named}, "every duplicate is named"
        assert len(duplicated) <= 2 * 10, "at most one batch per worker"


def test_kill_9_at_random_points_of_replay_then_a_rerun_delivers_every_message_naming_duplicates(
    localstack_endpoint, unique, tmp_path
):
    sqs, env, chooser = (
        boto3_client("sqs", localstack_endpoint),
        _env(localstack_endpoint),
        random.Random(SEED),
    )
    source = tmp_path / "in.ndjson"
    source.write_text("".join(json.dumps({"id": f"m{n}", "body": f"b{n}"}) + "\n" for n in range(60)))
    killed = 0
    for trial in range(TRIALS):
        url = sqs.create_queue(QueueName=f"{unique}-{trial}")["QueueUrl"]
        command = _msgctl("replay", str(source), "--to", f"sqs:{unique}-{trial}", "--concurrency", "2")
        command += ["--ledger", str(tmp_path / f"{trial}.sqlite")]
        killed += _killed_after([*command, "--rate", "80"], env, chooser.uniform(0.4, 1.2))
        named = _finish(command, env)
        received = Counter(m["Body"] for m in drain(sqs, url, 60))
        assert set(received) == {f"b{n}" for n in range(60)}, "every message delivered"
        duplicated = {body.replace("b", "m", 1) for body, count in received.items() if count > 1}
        assert duplicated <= named, "every duplicate is named"
        assert len(duplicated) <= 2 * 10, "at most one batch per worker"
    assert killed >= TRIALS // 2, "most trials are killed part-way"
