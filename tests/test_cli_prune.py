"""dlq journal prune and replay --ledger-prune: finished entries go, what a resume or the next run reads
stays, the file shrinks; bad input changes nothing."""

import json
import sqlite3
import time

import pytest

from msgctl import Client
from msgctl.address import parse_channel
from msgctl.core.file_lock import FileLock
from msgctl.core.journal import Journal
from msgctl.core.ledger import Ledger
from msgctl.core.state_paths import default_journal
from msgctl.errors import ExitCode, UsageError

HOUR, DAY = 3600, 86400


def _aged(path, table, key, ages):
    """Set each entry's last change (and confirmation, in a journal) ``ages[id]`` seconds back."""
    now = time.time()
    with sqlite3.connect(path) as db:
        for entry_id, age in ages.items():
            db.execute(f"UPDATE {table} SET updated_at = ? WHERE {key} = ?", (now - age, entry_id))
            if table == "messages":
                db.execute("UPDATE messages SET sent_at = ? WHERE message_id = ? AND sent_at IS NOT NULL",
                           (now - age, entry_id))  # fmt: skip
    db.close()


def _finished_journal(path):
    """Entries of every finished state: ``old-*`` last changed 2 days ago, ``hour-*`` 2 hours ago, ``new-*``
    a minute ago (``new-confirmed``, with the id a target gave it)."""
    journal = Journal(path)
    journal.set_meta({"dlq": "sqs:orders-dlq", "target": "sqs:orders", "mode": "move"})
    states = {
        "old-deleted": "deleted",
        "old-failed": "failed",
        "old-released": "released",
        "old-deduplicated": "deduplicated",
        "old-earlier": "earlier",
        "old-copied": "copied",
        "hour-deleted": "deleted",
        "hour-copied": "copied",
        "new-confirmed": "deleted",
        "new-failed": "failed",
    }
    journal.received((entry_id, f"receipt-{entry_id}") for entry_id in states)
    journal.target_ids([("old-earlier", "t1"), ("new-confirmed", "t2"), ("old-deleted", "t3")])
    for entry_id, state in states.items():
        journal.mark([entry_id], state)
    journal.close()
    ages = {i: 2 * DAY for i in states if i.startswith("old")}
    _aged(path, "messages", "message_id", {**ages, "hour-deleted": 2 * HOUR, "hour-copied": 2 * HOUR})
    _aged(path, "messages", "message_id", {"new-confirmed": 60, "new-failed": 60})


def _ids(path):
    with sqlite3.connect(path) as db:
        ids = {row[0] for row in db.execute("SELECT message_id FROM messages")}
    db.close()
    return ids


def _prune(invoke, *args):
    result = invoke("dlq", "journal", "prune", "-o", "json", *args)
    return result, (json.loads(result.stdout) if result.stdout.strip().startswith("{") else None)


def test_prune_forgets_finished_entries_but_copied_ones_and_recent_confirmations(invoke, tmp_path):
    path = tmp_path / "journal.sqlite"
    _finished_journal(path)
    result, report = _prune(invoke, "--journal", str(path))
    assert result.exit_code == 0, result.stderr
    assert report["pruned_by_state"] == {
        "deleted": 2,
        "deduplicated": 1,
        "earlier": 1,
        "failed": 2,
        "released": 1,
    }
    assert report["pruned"] == 7 and report["journal"] == str(path)
    assert report["kept_by_state"] == {"copied": 2, "deleted": 1}
    assert _ids(path) == {"old-copied", "hour-copied", "new-confirmed"}
    assert "copied entries stay" in result.stderr and f"pruned 7 entries of {path}, kept 3" in result.stderr


def test_older_than_keeps_younger_entries_and_prunes_copied_ones(invoke, tmp_path):
    path = tmp_path / "journal.sqlite"
    _finished_journal(path)
    result, report = _prune(invoke, "--journal", str(path), "--older-than", "1d")
    assert result.exit_code == 0, result.stderr
    assert report["pruned_by_state"] == {
        "copied": 1, "deduplicated": 1, "deleted": 1, "earlier": 1, "failed": 1, "released": 1,
    }  # fmt: skip
    assert _ids(path) == {"hour-deleted", "hour-copied", "new-confirmed", "new-failed"}
    _, report = _prune(invoke, "--journal", str(path), "--older-than", "1h")
    assert report["pruned_by_state"] == {"copied": 1, "deleted": 1}
    assert _ids(path) == {"new-confirmed", "new-failed"}


def test_an_unfinished_journal_keeps_what_its_resume_reads(invoke, tmp_path):
    path = tmp_path / "journal.sqlite"
    _finished_journal(path)
    journal = Journal(path)
    journal.held([("held", "r1")])
    journal.received([("received", "r2"), ("sent", "r3")])
    journal.mark(["sent"], "sent")
    journal.close()
    _aged(path, "messages", "message_id", {"held": 2 * DAY, "received": 2 * DAY, "sent": 2 * DAY})
    result, report = _prune(invoke, "--journal", str(path), "--older-than", "1d")
    assert result.exit_code == 0, result.stderr
    assert report["pruned_by_state"] == {"deduplicated": 1, "earlier": 1, "failed": 1, "released": 1}
    assert {"held", "received", "sent", "old-deleted", "old-copied"} <= _ids(path)
    assert "unfinished redrive" in result.stderr
    journal = Journal(path)
    assert [(e.message_id, e.receipt) for e in journal.in_state("sent")] == [("sent", "r3")]
    journal.close()


def test_the_file_shrinks_and_dlq_names_the_default_journal(invoke, tmp_path):
    path = default_journal(parse_channel("sqs:orders-dlq"))
    journal = Journal(path)
    ids = [f"m{n:05d}" for n in range(5000)]
    journal.received((i, "r" * 400) for i in ids)
    journal.mark(ids, "deleted")
    journal.close()
    result, report = _prune(invoke, "--dlq", "sqs:orders-dlq")
    assert result.exit_code == 0, result.stderr
    assert report["journal"] == str(path) and report["pruned"] == 5000 and report["kept_by_state"] == {}
    assert report["bytes_after"] < report["bytes_before"] / 10, report
    assert path.stat().st_size == report["bytes_after"]


@pytest.mark.parametrize(
    "args, message",
    [
        (("--journal", "{missing}"), "no such file: {missing}"),
        (("--dlq", "sqs:no-such-dlq"), "(the default journal of sqs:no-such-dlq)"),
        ((), "pass the journal file (--journal) or the DLQ"),
        (("--journal", "{journal}", "--dlq", "sqs:orders-dlq"), "pass the journal file (--journal) or"),
        (("--journal", "{ledger}"), "{ledger} is not a redrive journal"),
        (("--journal", "{text}"), "{text} is not a redrive journal"),
        (("--journal", "{journal}", "--older-than", "5 weeks"), "bad duration '5 weeks'"),
    ],
)
def test_bad_input_exits_2_in_one_line_and_changes_nothing(invoke, tmp_path, args, message):
    paths = {
        "missing": tmp_path / "missing.sqlite",
        "journal": tmp_path / "journal.sqlite",
        "ledger": tmp_path / "ledger.sqlite",
        "text": tmp_path / "notes.txt",
    }
    _finished_journal(paths["journal"])
    Ledger(paths["ledger"]).close()
    paths["text"].write_text("not a database")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    result, _ = _prune(invoke, *(a.format(**paths) for a in args))
    assert result.exit_code == ExitCode.USAGE, result.stderr
    assert message.format(**paths) in result.stderr and result.stderr.count("\n") == 1
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before, "nothing changed"


def test_a_journal_a_redrive_holds_is_not_pruned(invoke, tmp_path):
    path = tmp_path / "journal.sqlite"
    _finished_journal(path)
    with FileLock(path, "the journal", "another redrive", "wait"):
        result, _ = _prune(invoke, "--journal", str(path))
    assert result.exit_code == ExitCode.USAGE
    assert f"the journal {path} is in use by a redrive (pid" in result.stderr
    assert "prune it once that ends" in result.stderr and len(_ids(path)) == 10


def test_the_library_prunes_a_journal_too(tmp_path):
    path = tmp_path / "journal.sqlite"
    _finished_journal(path)
    with Client() as client:
        result = client.prune_journal(path, older_than=HOUR)
        assert result.pruned == {"copied": 2, "deduplicated": 1, "deleted": 2, "earlier": 1, "failed": 1,
                                 "released": 1}  # fmt: skip
        assert result.kept == {"deleted": 1, "failed": 1}
        with pytest.raises(UsageError, match="must not be negative"):
            client.prune_journal(path, older_than=-1)


# replay --ledger-prune


def _ledger(path, target_key):
    """``old-sent`` and ``old-sending`` from 2 days ago, ``hour-sent`` 2 hours ago, ``new-sent`` a minute."""
    book = Ledger(path)
    book.set_meta({"target": target_key})
    book.sending((i, i, n, None) for n, i in enumerate(("old-sent", "old-sending", "hour-sent", "new-sent")))
    book.sent([("old-sent", "t1"), ("hour-sent", "t2"), ("new-sent", "t3")])
    book.close()
    _aged(path, "replayed", "dedup_id", {"old-sent": 2 * DAY, "old-sending": 2 * DAY, "hour-sent": 2 * HOUR})
    _aged(path, "replayed", "dedup_id", {"new-sent": 60})


def _entries(path):
    with sqlite3.connect(path) as db:
        entries = dict(db.execute("SELECT dedup_id, state FROM replayed").fetchall())
    db.close()
    return entries


def test_ledger_prune_removes_old_sent_entries_and_keeps_sending_ones(invoke, aws, sqs, unique, tmp_path):
    url = sqs.create_queue(QueueName=unique)["QueueUrl"]
    ledger = tmp_path / "ledger.sqlite"
    _ledger(ledger, url)
    result = invoke(
        "-o", "json", "replay", "--to", f"sqs:{unique}", "--ledger", str(ledger), "--ledger-prune", "1d"
    )
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["ledger"], report["pruned"], report["kept_by_state"]) == (
        str(ledger),
        1,
        {"sending": 1, "sent": 2},
    )
    assert _entries(ledger) == {"old-sending": "sending", "hour-sent": "sent", "new-sent": "sent"}
    again = invoke(
        "-o", "json", "replay", "--to", f"sqs:{unique}", "--ledger", str(ledger), "--ledger-prune", "0s"
    )
    assert json.loads(again.stdout)["pruned"] == 1, "what was sent less than 5 minutes ago stays"
    assert _entries(ledger) == {"old-sending": "sending", "new-sent": "sent"}


def test_ledger_prune_finds_the_targets_default_ledger(invoke, aws, sqs, unique, tmp_path):
    sqs.create_queue(QueueName=unique)
    source = tmp_path / "in.ndjson"
    source.write_text("".join(json.dumps({"id": f"m{n}", "body": f"b{n}"}) + "\n" for n in range(3)))
    sent = invoke("-o", "json", "replay", str(source), "--to", f"sqs:{unique}")
    assert sent.exit_code == 0, sent.stderr
    ledger = json.loads(sent.stdout)["ledger"]
    with sqlite3.connect(ledger) as db:
        db.execute("UPDATE replayed SET updated_at = ?", (time.time() - 8 * DAY,))
    db.close()
    pruned = invoke("-o", "json", "replay", "--to", f"sqs:{unique}", "--ledger-prune", "7d")
    assert pruned.exit_code == 0, pruned.stderr
    assert json.loads(pruned.stdout)["pruned"] == 3 and _entries(ledger) == {}
    with Client() as client:  # the library call
        assert client.prune_ledger(f"sqs:{unique}", "7d").pruned == {"sent": 0}


@pytest.mark.parametrize(
    "args, message",
    [
        (("--ledger", "{missing}", "--ledger-prune", "1d"), "no such file: {missing}"),
        (("--ledger-prune", "1d"), "(the ledger of sqs:"),
        (("--ledger", "{ledger}", "--ledger-prune", "a week"), "bad duration 'a week'"),
        (("{ledger}", "--ledger", "{ledger}", "--ledger-prune", "1d"), "it takes no SOURCE"),
        (
            ("--ledger", "{ledger}", "--ledger-prune", "1d", "--dry-run"),
            "it takes no SOURCE and no --dry-run",
        ),
        (("--ledger", "{journal}", "--ledger-prune", "1d"), "{journal} is not a replay ledger"),
        (("--ledger", "{other}", "--ledger-prune", "1d"), "{other} is the ledger of http"),
        (("--ledger", "{ledger}"), "missing SOURCE"),
    ],
)
def test_ledger_prune_bad_input_exits_2_and_changes_nothing(
    invoke, aws, sqs, unique, tmp_path, args, message
):
    url = sqs.create_queue(QueueName=unique)["QueueUrl"]
    paths = {
        "missing": tmp_path / "missing.sqlite",
        "ledger": tmp_path / "ledger.sqlite",
        "other": tmp_path / "other.sqlite",
        "journal": tmp_path / "journal.sqlite",
    }
    _ledger(paths["ledger"], url)
    _ledger(paths["other"], "http://elsewhere/queue")
    _finished_journal(paths["journal"])
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    result = invoke("replay", "--to", f"sqs:{unique}", *(a.format(**paths) for a in args))
    assert result.exit_code == ExitCode.USAGE, result.stderr
    assert message.format(**paths) in result.stderr and result.stderr.count("\n") == 1
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before, "nothing changed"
    assert not list((tmp_path / "state").glob("**/*.sqlite")), "no default ledger made"
