"""One redrive per journal and one replay per ledger at a time: a second one (any process) is refused at once,
before it touches a message; a holder killed with SIGKILL leaves no lock behind."""

import json
import os
import signal
import subprocess
import time

import pytest

from msgctl.core.file_lock import FileLock, InUseError
from msgctl.errors import ExitCode
from tests.helpers import boto3_client, dead_letter_pair, depth, drain, msgctl_command, msgctl_env


def _lock(path):
    return FileLock(path, "the journal", "another redrive", "wait for it")


def test_a_second_lock_on_the_same_file_is_refused_naming_the_holder(tmp_path) -> None:
    path = tmp_path / "journal.sqlite"
    with _lock(path):
        with pytest.raises(InUseError) as refused:
            _lock(path).acquire()
        assert refused.value.pid == os.getpid()
        assert str(refused.value) == (
            f"the journal {path} is in use by another redrive (pid {os.getpid()}): wait for it"
        )
        assert refused.value.exit_code == ExitCode.USAGE
        with _lock(tmp_path / "other.sqlite"):  # another file: no conflict
            pass
    assert not (tmp_path / "journal.sqlite.lock").exists(), "removed when let go"
    with _lock(path):  # free again
        pass


def test_a_redrive_on_a_journal_in_use_exits_2_before_touching_a_message(invoke, aws, sqs, unique, tmp_path):
    _url, dlq, _ = dead_letter_pair(sqs, unique, 5)
    journal = tmp_path / "journal.sqlite"
    with _lock(journal):
        result = invoke(
            "dlq", "redrive", f"sqs:{unique}-dlq", "--engine", "client", "--yes", "--journal", str(journal)
        )
    assert result.exit_code == ExitCode.USAGE, result.stderr
    assert result.stderr.count("\n") == 1 and result.stdout == ""
    assert f"the journal {journal} is in use by another redrive (pid {os.getpid()})" in result.stderr
    assert "pass --journal for a separate one" in result.stderr
    attributes = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "5", "nothing received, nothing hidden"
    assert not journal.exists()


def test_a_replay_to_a_ledger_in_use_exits_2_and_sends_nothing(invoke, aws, sqs, unique, tmp_path):
    url = sqs.create_queue(QueueName=unique)["QueueUrl"]
    source = tmp_path / "in.ndjson"
    source.write_text(json.dumps({"id": "m1", "body": "b1"}) + "\n")
    ledger = tmp_path / "ledger.sqlite"
    with FileLock(ledger, "the ledger", "another replay", "wait"):
        result = invoke("replay", str(source), "--to", f"sqs:{unique}", "--ledger", str(ledger))
    assert result.exit_code == ExitCode.USAGE, result.stderr
    assert f"the ledger {ledger} is in use by another replay (pid {os.getpid()})" in result.stderr
    assert depth(sqs, url) == 0 and not ledger.exists()
    assert invoke("replay", str(source), "--to", f"sqs:{unique}", "--ledger", str(ledger)).exit_code == 0


def _holding(command, env, lock_file):
    """Start ``command``; returns once it holds its lock (its pid is in the lock file)."""
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not (lock_file.exists() and lock_file.read_text().strip() == str(process.pid)):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"it never held {lock_file}: {process.communicate()[1]}")
        time.sleep(0.02)
    return process


def _killed(process):
    process.send_signal(signal.SIGKILL)
    process.wait()
    process.stderr.close()


def test_a_second_redrive_process_is_refused_and_a_kill_9_frees_the_journal(
    localstack_endpoint, unique, tmp_path
):
    sqs, env = boto3_client("sqs", localstack_endpoint), msgctl_env(localstack_endpoint)
    dead_letter_pair(sqs, unique, 60)
    journal = tmp_path / "journal.sqlite"
    command = msgctl_command("dlq", "redrive", f"sqs:{unique}-dlq", "--engine", "client", "--yes")
    command += ["--journal", str(journal), "--hold", "10"]
    first = _holding([*command, "--rate", "5"], env, tmp_path / "journal.sqlite.lock")
    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert second.returncode == ExitCode.USAGE, second.stderr
    assert f"is in use by another redrive (pid {first.pid})" in second.stderr
    assert second.stdout == ""
    _killed(first)
    with _lock(journal):  # the kernel let go of the killed process's lock
        pass
    resume = ["--resume"] if journal.exists() else []  # killed before it made its journal: nothing to resume
    resumed = subprocess.run([*command, *resume], env=env, capture_output=True, text=True, timeout=60)
    assert "in use" not in resumed.stderr
    assert resumed.returncode in (ExitCode.OK, ExitCode.PARTIAL), resumed.stderr  # PARTIAL: still held
    assert json.loads(resumed.stdout)["moved"] > 0


def test_a_second_replay_process_is_refused_and_a_kill_9_frees_the_ledger(
    localstack_endpoint, unique, tmp_path
):
    sqs, env = boto3_client("sqs", localstack_endpoint), msgctl_env(localstack_endpoint)
    url = sqs.create_queue(QueueName=unique)["QueueUrl"]
    source = tmp_path / "in.ndjson"
    source.write_text("".join(json.dumps({"id": f"m{n}", "body": f"b{n}"}) + "\n" for n in range(40)))
    ledger = tmp_path / "ledger.sqlite"
    command = msgctl_command("replay", str(source), "--to", f"sqs:{unique}", "--ledger", str(ledger))
    first = _holding([*command, "--rate", "2"], env, tmp_path / "ledger.sqlite.lock")
    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert second.returncode == ExitCode.USAGE, second.stderr
    assert f"the ledger {ledger} is in use by another replay (pid {first.pid}): wait for it to end" in (
        second.stderr
    )
    _killed(first)
    rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert rerun.returncode == 0, rerun.stderr
    assert {m["Body"] for m in drain(sqs, url, 40)} == {f"b{n}" for n in range(40)}
