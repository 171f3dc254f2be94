"""ActiveMQ fidelity: messages built with stomp.py go through export, replay and redrive, and what arrives is
compared with stomp.py, field by field, with what was sent."""

import json
import queue
import time
import uuid

import pytest

from msgctl.errors import ExitCode
from tests.fidelity import fidelity
from tests.helpers import consume_all, subscribed, wait_depth
from tests.test_cli_activemq import _confirmed

HOUR_MS = 3_600_000
BYTES_BODY = "valid UTF-8, sent as bytes: é".encode()
DEEP = 450  # deeper than the broker's browse page (maxBrowsePageSize, 400)


def _send(stomp_conn, destination, messages):
    """SEND each (body, headers) as given: no content-length unless the headers carry one, so a body without
    it is a TextMessage and one with it (and no amq-msg-type) a BytesMessage. The last is confirmed."""
    stomp_conn.auto_content_length = False
    try:
        for body, headers in messages[:-1]:
            stomp_conn.send(destination, body, headers=headers)
        body, headers = messages[-1]
        _confirmed(stomp_conn, lambda h: stomp_conn.send(destination, body, headers={**headers, **h}))
    finally:
        stomp_conn.auto_content_length = True


def _nack_into_dlq(stomp_conn, name, messages):
    """Send the messages to `name` and NACK them, so the broker itself dead-letters them to DLQ.<name>."""
    _send(stomp_conn, f"/queue/{name}", messages)
    frames = subscribed(stomp_conn, name, "nacker", "client-individual")
    for _ in messages:
        stomp_conn.nack(frames.get(timeout=10).headers["ack"])
    stomp_conn.unsubscribe("nacker")
    stomp_conn.remove_listener("nacker")


def _browse(stomp_conn, name, selector=None):
    """The frames a stomp.py browse of the queue shows (with a selector: those it matches)."""
    frames: queue.Queue = queue.Queue()
    sub_id = f"browse-{uuid.uuid4().hex[:8]}"

    class Collector:
        def on_message(self, frame) -> None:
            if frame.headers.get("subscription") == sub_id:
                frames.put(frame)

    stomp_conn.set_listener(sub_id, Collector())
    headers = {"browser": "true", **({"selector": selector} if selector else {})}
    stomp_conn.subscribe(f"/queue/{name}", id=sub_id, ack="auto", headers=headers)
    shown = []
    while (frame := frames.get(timeout=10)).headers.get("browser") != "end":
        shown.append(frame)
    stomp_conn.unsubscribe(sub_id)
    stomp_conn.remove_listener(sub_id)
    return shown


def _fill(stomp_conn, name, count):
    _send(
        stomp_conn,
        f"/queue/{name}",
        [(f"m{n}".encode(), {"persistent": "true", "n": str(n)}) for n in range(count)],
    )


def _typed_messages(expires):
    """One message per field that a path could lose, each labelled."""
    return [
        (
            b'{"kind": "json"}',
            {
                "label": "text",
                "persistent": "true",
                "priority": "7",
                "expires": str(expires),
                "content-type": "application/json",
                "tenant": "acme",
            },
        ),
        (
            BYTES_BODY,
            {"label": "bytes", "persistent": "true", "content-length": str(len(BYTES_BODY)), "priority": "2"},
        ),
        (
            b"grouped",
            {"label": "group", "persistent": "true", "JMSXGroupID": "G1", "msgctl_group": "G1"},
        ),
    ]


def _assert_same(sent_body, sent, frame):
    """What arrived is what was sent: body, message type, persistence, priority, expiry, content type and
    every property (the broker's own headers aside)."""
    headers = frame.headers
    assert frame.body == sent_body
    if "content-length" in sent:
        assert "content-length" in headers and "amq-msg-type" not in headers, "still a BytesMessage"
    else:
        assert "content-length" not in headers and "amq-msg-type" not in headers, "still a TextMessage"
    assert headers.get("persistent", "false") == sent["persistent"]
    assert headers["priority"] == sent.get("priority", "4")
    assert headers["expires"] == sent.get("expires", "0")
    assert headers.get("content-type") == sent.get("content-type")
    properties = {k for k in sent if k not in ("persistent", "priority", "expires", "content-type")}
    for name in properties - {"content-length", "JMSXGroupID"}:
        assert headers[name] == sent[name], name


@fidelity(
    "ActiveMQ", "each message (> 400 deep)", "dlq export", "exit 3: names the browse page and the way out"
)
def test_export_deeper_than_the_browse_page_exits_3_with_the_way_out(invoke, amq, stomp_conn, unique):
    _fill(stomp_conn, f"DLQ.{unique}", DEEP)
    wait_depth(invoke, f"DLQ.{unique}", DEEP)
    result = invoke("dlq", "export", f"amq:queue/DLQ.{unique}")
    assert result.exit_code == ExitCode.PARTIAL
    *envelopes, marker = [json.loads(line) for line in result.stdout.splitlines()]
    assert marker["partial"] is True and "maxBrowsePageSize" in marker["reason"]
    assert [e["message_attributes"]["n"]["value"] for e in envelopes] == [str(n) for n in range(400)]
    assert all(e["body"] == f"m{e['message_attributes']['n']['value']}" for e in envelopes)
    assert f"holds {DEEP} messages" in result.stderr and "maxBrowsePageSize" in result.stderr
    assert "--consume" in result.stderr, "the way out"


def test_export_within_the_browse_page_exits_0(invoke, amq, stomp_conn, unique):
    _fill(stomp_conn, f"DLQ.{unique}", 400)
    wait_depth(invoke, f"DLQ.{unique}", 400)
    result = invoke("dlq", "export", f"amq:queue/DLQ.{unique}")
    assert result.exit_code == 0, result.stderr
    assert len(result.stdout.splitlines()) == 400


@fidelity(
    "ActiveMQ", "each message (> 400 deep)", "dlq redrive --copy", "copied once; exit 3: names the rest"
)
def test_copy_deeper_than_the_browse_page_never_repeats_and_exits_3(
    invoke, amq, stomp_conn, unique, tmp_path
):
    _fill(stomp_conn, f"DLQ.{unique}", DEEP)
    wait_depth(invoke, f"DLQ.{unique}", DEEP)
    copy = (
        "dlq",
        "redrive",
        f"amq:queue/DLQ.{unique}",
        "--to",
        f"amq:queue/{unique}",
        "--copy",
        "--yes",
        "-o",
        "json",
    )
    first = invoke(*copy)
    assert first.exit_code == ExitCode.PARTIAL, first.stderr
    report = json.loads(first.stdout)
    assert (report["moved"], report["not_reached"], report["possible_duplicates"]) == (400, 50, [])
    assert "maxBrowsePageSize" in first.stderr and "without --copy" in first.stderr
    assert "run again for the rest" not in first.stderr
    again = invoke(*copy)
    assert again.exit_code == ExitCode.PARTIAL, again.stderr
    report = json.loads(again.stdout)
    assert (report["moved"], report["already_copied"], report["not_reached"]) == (0, 400, 50)
    wait_depth(invoke, unique, 400)
    frames = consume_all(stomp_conn, unique, 400)
    assert sorted(int(f.headers["n"]) for f in frames) == list(range(400)), "each copied once"
    assert all(f.body == f"m{f.headers['n']}".encode() for f in frames)
    wait_depth(invoke, f"DLQ.{unique}", DEEP)


@pytest.mark.parametrize("copy", [False, True], ids=["move", "copy"])
@fidelity("ActiveMQ", "expires", "dlq redrive")
@fidelity("ActiveMQ", "priority", "dlq redrive")
@fidelity("ActiveMQ", "content-type", "dlq redrive")
@fidelity("ActiveMQ", "bytes body", "dlq redrive")
@fidelity(
    "ActiveMQ", "JMSXGroupID (message group)", "dlq redrive", "kept via msgctl_group, else left: exit 3"
)
@fidelity("ActiveMQ", "expires", "dlq redrive --copy")
@fidelity("ActiveMQ", "priority", "dlq redrive --copy")
@fidelity("ActiveMQ", "content-type", "dlq redrive --copy")
@fidelity("ActiveMQ", "bytes body", "dlq redrive --copy")
@fidelity(
    "ActiveMQ",
    "JMSXGroupID (message group)",
    "dlq redrive --copy",
    "kept via msgctl_group, else left: exit 3",
)
def test_redrive_keeps_expiry_priority_type_and_group(invoke, amq, stomp_conn, unique, copy):
    expires = int(time.time() * 1000) + HOUR_MS
    sent = _typed_messages(expires)
    foreign_group = (b"foreign group", {"label": "foreign", "persistent": "true", "JMSXGroupID": "G2"})
    _nack_into_dlq(stomp_conn, unique, [*sent, foreign_group])
    wait_depth(invoke, f"DLQ.{unique}", 4)
    (foreign,) = _browse(stomp_conn, f"DLQ.{unique}", "label = 'foreign'")
    result = invoke(
        "dlq", "redrive", f"amq:queue/DLQ.{unique}", "--yes", "-o", "json", *(["--copy"] if copy else [])
    )
    assert result.exit_code == ExitCode.PARTIAL, result.stderr
    report = json.loads(result.stdout)
    assert report["moved"] == 3
    assert [(f["id"], "JMSXGroupID" in f["reason"]) for f in report["failed"]] == [
        (foreign.headers["message-id"], True)
    ]
    wait_depth(invoke, unique, 3)
    assert [f.headers["label"] for f in _browse(stomp_conn, unique, "JMSXGroupID = 'G1'")] == ["group"]
    arrived = {f.headers["label"]: f for f in consume_all(stomp_conn, unique, 3)}
    for body, headers in sent:
        _assert_same(body, headers, arrived[headers["label"]])
        assert "originalExpiration" not in arrived[headers["label"]].headers
    assert [f.headers["label"] for f in _browse(stomp_conn, f"DLQ.{unique}")] == (
        ["text", "bytes", "group", "foreign"] if copy else ["foreign"]
    )


@fidelity("ActiveMQ", "persistent", "dlq redrive --copy")
def test_redrive_keeps_a_non_persistent_dead_letter_non_persistent(invoke, amq, stomp_conn, unique):
    """NACKed non-persistent messages are discarded by the broker: this one was put into the DLQ directly."""
    expires = int(time.time() * 1000) + HOUR_MS
    sent = [(b"volatile", {"label": "np", "persistent": "false", "expires": str(expires)})]
    _send(stomp_conn, f"/queue/DLQ.{unique}", sent)
    wait_depth(invoke, f"DLQ.{unique}", 1)
    result = invoke(
        "dlq", "redrive", f"amq:queue/DLQ.{unique}", "--to", f"amq:queue/{unique}", "--copy", "--yes"
    )
    assert result.exit_code == 0, result.stderr
    wait_depth(invoke, unique, 1)
    (frame,) = consume_all(stomp_conn, unique, 1)
    _assert_same(*sent[0], frame)


@fidelity("ActiveMQ", "expires", "dlq export")
@fidelity("ActiveMQ", "priority", "dlq export")
@fidelity("ActiveMQ", "content-type", "dlq export")
@fidelity("ActiveMQ", "persistent", "dlq export")
@fidelity("ActiveMQ", "bytes body", "dlq export")
@fidelity("ActiveMQ", "JMSXGroupID (message group)", "dlq export", "kept via msgctl_group")
@fidelity("ActiveMQ", "expires", "replay")
@fidelity("ActiveMQ", "priority", "replay")
@fidelity("ActiveMQ", "content-type", "replay")
@fidelity("ActiveMQ", "persistent", "replay")
@fidelity("ActiveMQ", "bytes body", "replay")
@fidelity("ActiveMQ", "JMSXGroupID (message group)", "replay", "kept via msgctl_group")
def test_export_then_replay_keeps_every_field(invoke, amq, stomp_conn, unique, tmp_path):
    expires = int(time.time() * 1000) + HOUR_MS
    sent = [
        *_typed_messages(expires),
        (b"not kept on disk", {"label": "volatile", "persistent": "false", "priority": "9"}),
    ]
    _send(stomp_conn, f"/queue/{unique}", sent)
    wait_depth(invoke, unique, len(sent))
    exported = invoke("dlq", "export", f"amq:queue/{unique}")
    assert exported.exit_code == 0, exported.stderr
    capture = tmp_path / "captured.ndjson"
    capture.write_text(exported.stdout)
    result = invoke(
        "replay", str(capture), "--to", f"amq:queue/{unique}.out", "--ledger", str(tmp_path / "l")
    )
    assert result.exit_code == 0, result.stderr
    wait_depth(invoke, f"{unique}.out", len(sent))
    assert [f.headers["label"] for f in _browse(stomp_conn, f"{unique}.out", "JMSXGroupID = 'G1'")] == [
        "group"
    ]
    arrived = {f.headers["label"]: f for f in consume_all(stomp_conn, f"{unique}.out", len(sent))}
    for body, headers in sent:
        _assert_same(body, headers, arrived[headers["label"]])


def test_send_refuses_a_number_a_selector_could_not_match(invoke, amq, stomp_conn, unique):
    result = invoke("send", f"amq:queue/{unique}", "x", "--attr", "n:Number=5.5")
    assert result.exit_code == ExitCode.USAGE
    assert result.stderr.count("\n") == 1 and "msgctl: error: attribute 'n'" in result.stderr
    assert invoke("stats", f"amq:queue/{unique}").exit_code == ExitCode.NOT_FOUND, "nothing was sent"
    assert invoke("send", f"amq:queue/{unique}", "x", "--attr", "n:Number=5").exit_code == 0
    (frame,) = _browse(stomp_conn, unique, "n > 4 AND n < 5.5")
    assert frame.headers["n"] == "5"


@fidelity("ActiveMQ", "Number attribute (not an integer)", "replay", "refused, exit 2")
@fidelity("ActiveMQ", "Number attribute (integer)", "replay", "kept as digits: numeric selectors match")
def test_replay_refuses_a_non_integer_number_and_keeps_integers_selectable(
    invoke, amq, stomp_conn, unique, tmp_path
):
    def envelope(n: str) -> str:
        attributes = {"n": {"type": "Number", "value": n}}
        return json.dumps({"channel": "sqs:x", "id": n, "body": "b", "message_attributes": attributes})

    capture = tmp_path / "in.ndjson"
    capture.write_text(envelope("12") + "\n" + envelope("12.5") + "\n")
    ledger = ("--ledger", str(tmp_path / "l"))
    refused = invoke("replay", str(capture), "--to", f"amq:queue/{unique}", *ledger)
    assert refused.exit_code == ExitCode.USAGE
    assert "line 2" in refused.stderr and "nothing was sent" in refused.stderr
    assert invoke("stats", f"amq:queue/{unique}").exit_code == ExitCode.NOT_FOUND
    capture.write_text(envelope("12") + "\n")
    assert invoke("replay", str(capture), "--to", f"amq:queue/{unique}", *ledger).exit_code == 0
    (frame,) = _browse(stomp_conn, unique, "n > 11.5 AND n = 12")
    assert (frame.headers["n"], frame.body) == ("12", b"b")


def test_copy_names_what_a_dead_run_left_unconfirmed_and_skips_what_it_copied(
    invoke, amq, stomp_conn, unique, tmp_path
):
    """A run killed between a COMMIT and its journal entry: a rerun sends that message again, named."""
    from msgctl.core.journal import Journal

    _fill(stomp_conn, f"DLQ.{unique}", 3)
    wait_depth(invoke, f"DLQ.{unique}", 3)
    ids = [f.headers["message-id"] for f in _browse(stomp_conn, f"DLQ.{unique}")]
    target = f"amq:queue/{unique}"
    journal = Journal(tmp_path / "copy.sqlite")
    journal.set_meta({"dlq": f"amq:queue/DLQ.{unique}", "target": target, "mode": "copy"})
    journal.received([(ids[0], ""), (ids[1], "")])
    journal.mark([ids[1]], "copied")
    journal.close()
    result = invoke(
        "dlq",
        "redrive",
        f"amq:queue/DLQ.{unique}",
        "--to",
        target,
        "--copy",
        "--yes",
        "-o",
        "json",
        "--journal",
        str(tmp_path / "copy.sqlite"),
    )
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["moved"], report["already_copied"], report["possible_duplicates"]) == (2, 1, [ids[0]])
    wait_depth(invoke, unique, 2)
    assert sorted(f.body for f in consume_all(stomp_conn, unique, 2)) == [b"m0", b"m2"]
