"""ActiveMQ redrive and replay: an expiry that has passed is not resent (the broker would expire the message
at once), and a --copy --max rerun copies the next messages, journaling only what it sent."""

import json
import time

from msgctl.errors import ExitCode
from tests.fidelity import fidelity
from tests.helpers import consume_all, wait_depth
from tests.test_activemq_fidelity import DEEP, _browse, _fill, _nack_into_dlq, _send

EXPIRES_IN_MS = 3_000


def _wait_until(epoch_ms):
    """Sleeps until the clock has passed a known instant (not a guess at how long something takes)."""
    while time.time() * 1000 <= epoch_ms:
        time.sleep(max(0.0, epoch_ms / 1000 - time.time()) + 0.05)


def _dead_letter_expiring(invoke, stomp_conn, name):
    """One message NACKed into DLQ.<name> a few seconds before its expiry; returns its expiry and the DLQ
    copy, once that expiry has passed."""
    expires = int(time.time() * 1000) + EXPIRES_IN_MS
    _nack_into_dlq(
        stomp_conn, name, [(b"late", {"label": "late", "persistent": "true", "expires": str(expires)})]
    )
    wait_depth(invoke, f"DLQ.{name}", 1)
    _wait_until(expires)
    (dead,) = _browse(stomp_conn, f"DLQ.{name}")
    return expires, dead


def test_the_broker_expires_a_message_sent_with_a_past_expiry(invoke, amq, stomp_conn, unique):
    """Why the expiry is checked: a SEND whose expires has passed never reaches a consumer."""
    past = int(time.time() * 1000) - 1_000
    _send(
        stomp_conn,
        f"/queue/{unique}",
        [
            (b"dead on arrival", {"persistent": "false", "expires": str(past)}),
            (b"alive", {"persistent": "false"}),
        ],
    )
    (frame,) = consume_all(stomp_conn, unique, 1)
    assert frame.body == b"alive"


def test_the_dlq_keeps_a_dead_letter_past_its_original_expiry(invoke, amq, stomp_conn, unique):
    expires, dead = _dead_letter_expiring(invoke, stomp_conn, unique)
    assert dead.headers["originalExpiration"] == str(expires)
    assert dead.headers["expires"] == "0"


@fidelity("ActiveMQ", "expires (already passed)", "dlq redrive", "exit 3: named, left in the DLQ")
def test_redrive_leaves_a_dead_letter_whose_expiry_passed_in_the_dlq(invoke, amq, stomp_conn, unique):
    _, dead = _dead_letter_expiring(invoke, stomp_conn, unique)
    result = invoke("dlq", "redrive", f"amq:queue/DLQ.{unique}", "--yes", "-o", "json")
    assert result.exit_code == ExitCode.PARTIAL, result.stderr
    report = json.loads(result.stdout)
    assert report["moved"] == 0
    ((failed),) = report["failed"]
    assert failed["id"] == dead.headers["message-id"]
    assert "has passed: redriving it would expire it at once" in failed["reason"]
    assert [f.headers["message-id"] for f in _browse(stomp_conn, f"DLQ.{unique}")] == [
        dead.headers["message-id"]
    ]


@fidelity("ActiveMQ", "expires (already passed)", "dlq redrive --copy", "exit 3: named, left in the DLQ")
def test_redrive_copy_names_a_dead_letter_whose_expiry_passed(invoke, amq, stomp_conn, unique):
    _, dead = _dead_letter_expiring(invoke, stomp_conn, unique)
    for _ in range(2):  # not journaled as received: the rerun does not name it a possible duplicate
        result = invoke("dlq", "redrive", f"amq:queue/DLQ.{unique}", "--copy", "--yes", "-o", "json")
        assert result.exit_code == ExitCode.PARTIAL, result.stderr
        report = json.loads(result.stdout)
        assert [f["id"] for f in report["failed"]] == [dead.headers["message-id"]]
        assert report["possible_duplicates"] == []
    assert len(_browse(stomp_conn, f"DLQ.{unique}")) == 1


@fidelity("ActiveMQ", "expires (already passed)", "replay", "refused, exit 2")
def test_replay_refuses_a_line_whose_expiry_passed(invoke, amq, stomp_conn, unique, tmp_path):
    expires = int(time.time() * 1000) + EXPIRES_IN_MS
    _send(stomp_conn, f"/queue/{unique}", [(b"late", {"persistent": "true", "expires": str(expires)})])
    wait_depth(invoke, unique, 1)
    exported = invoke("dlq", "export", f"amq:queue/{unique}")
    assert exported.exit_code == 0, exported.stderr
    capture = tmp_path / "captured.ndjson"
    capture.write_text(exported.stdout)
    _wait_until(expires)
    result = invoke("replay", str(capture), "--to", f"amq:queue/{unique}-replayed")
    assert result.exit_code == ExitCode.USAGE, result.stderr
    assert "line 1: its expiry" in result.stderr and "has passed" in result.stderr
    assert amq_depth_is_zero(invoke, f"{unique}-replayed")


def amq_depth_is_zero(invoke, name):
    result = invoke("stats", f"amq:queue/{name}", "-o", "json")
    return result.exit_code == ExitCode.NOT_FOUND or json.loads(result.stdout)["depth"] == 0


def test_redrive_copy_max_rerun_copies_the_next_messages(invoke, amq, stomp_conn, unique):
    _fill(stomp_conn, f"DLQ.{unique}", 30)
    wait_depth(invoke, f"DLQ.{unique}", 30)
    for _ in range(2):
        result = invoke(
            "dlq", "redrive", f"amq:queue/DLQ.{unique}", "--to", f"amq:queue/{unique}",
            "--copy", "--max", "10", "--yes", "-o", "json",
        )  # fmt: skip
        assert result.exit_code == 0, result.stderr
        assert json.loads(result.stdout)["moved"] == 10
    wait_depth(invoke, unique, 20)
    arrived = [f.headers["n"] for f in consume_all(stomp_conn, unique, 20)]
    assert sorted(arrived, key=int) == [str(n) for n in range(20)]


def test_redrive_copy_does_not_name_unsent_frames_possible_duplicates(invoke, amq, stomp_conn, unique):
    """A message put into the DLQ directly has no original-destination: without --to it is never sent."""
    _send(stomp_conn, f"/queue/DLQ.{unique}", [(b"orphan", {"persistent": "true"})])
    wait_depth(invoke, f"DLQ.{unique}", 1)
    for _ in range(2):
        result = invoke("dlq", "redrive", f"amq:queue/DLQ.{unique}", "--copy", "--yes", "-o", "json")
        assert result.exit_code == ExitCode.PARTIAL, result.stderr
        report = json.loads(result.stdout)
        assert [f["reason"] for f in report["failed"]] == ["no original-destination: pass --to"]
        assert report["possible_duplicates"] == []


def test_redrive_copy_max_rerun_names_what_the_browse_page_hides(invoke, amq, stomp_conn, unique):
    """450 deep, a browse shows 400: --max 300 copies 300 (its limit reached, nothing to name), the rerun the
    100 left on the page, and names the 50 behind it."""
    _fill(stomp_conn, f"DLQ.{unique}", DEEP)
    wait_depth(invoke, f"DLQ.{unique}", DEEP)
    copy = (
        "dlq", "redrive", f"amq:queue/DLQ.{unique}", "--to", f"amq:queue/{unique}",
        "--copy", "--max", "300", "--yes", "-o", "json",
    )  # fmt: skip
    first = invoke(*copy)
    assert first.exit_code == 0, first.stderr
    assert (json.loads(first.stdout)["moved"], json.loads(first.stdout)["not_reached"]) == (300, 0)
    again = invoke(*copy)
    assert again.exit_code == ExitCode.PARTIAL, again.stderr
    report = json.loads(again.stdout)
    assert (report["moved"], report["already_copied"], report["not_reached"]) == (100, 300, 50)
    wait_depth(invoke, unique, 400)
