"""Repair on the way back (issue 16): jq programs on dead letters' bodies and envelopes during a redrive,
checked by reading the target and the DLQ with boto3 on LocalStack; the program engine on its own."""

import json
import random
import signal
import sqlite3
import subprocess
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from msgctl.core.transform import Transform, TransformError, TransformSpec, diff, parse_args
from msgctl.envelope import Envelope, MessageAttribute
from msgctl.errors import ExitCode, UsageError
from tests.helpers import boto3_client, dead_letter_pair, depth, drain, msgctl_command, msgctl_env

RENAME = 'if has("old") then .new = .old | del(.old) else . end'
ATTRIBUTES = {
    "s": {"DataType": "String", "StringValue": "text ünïcode"},
    "n": {"DataType": "Number", "StringValue": "301.50"},
    "b": {"DataType": "Binary", "BinaryValue": b"\x00\xffbinary"},
    "sc": {"DataType": "String.custom", "StringValue": "custom"},
}


def _envelope(body: str, **attributes: MessageAttribute) -> Envelope:
    return Envelope("sqs:dlq", "m1", body.encode(), {"group_id": "g1"}, attributes)


# The program engine ---------------------------------------------------------------------------------------


def test_a_body_program_repairs_selects_out_and_refuses_loudly():
    rename = Transform(TransformSpec(RENAME))
    repaired = rename.apply(_envelope('{"old": 1, "k": "ü"}'))
    assert repaired.envelope is not None and repaired.envelope.body == '{"k":"ü","new":1}'.encode()
    kept = _envelope('{"k":  "as it was"}')
    assert rename.apply(kept).envelope is kept, "a body the program leaves as it was is sent byte for byte"
    assert Transform(TransformSpec("empty")).apply(kept).envelope is None
    assert Transform(TransformSpec("null")).apply(kept).envelope is None
    with pytest.raises(TransformError, match="not JSON"):
        rename.apply(_envelope("plain text"))
    with pytest.raises(TransformError, match="12345678901234567890, which jq"):
        rename.apply(_envelope('{"id": 12345678901234567890}'))
    with pytest.raises(TransformError, match=r"0\.10000000000000000001, which jq"):
        rename.apply(_envelope('{"price": 0.10000000000000000001}'))
    assert rename.apply(_envelope('{"price": 0.1, "n": 9007199254740992}')).envelope is not None
    with pytest.raises(TransformError, match="2 results"):
        Transform(TransformSpec(".a, .b")).apply(_envelope('{"a": 1, "b": 2}'))
    with pytest.raises(TransformError, match=r"jq: .*bad 7"):
        Transform(TransformSpec('error("bad \\(.n)")')).apply(_envelope('{"n": 7}'))
    with pytest.raises(UsageError, match="does not compile"):
        Transform(TransformSpec(".a |"))
    untouched = _envelope('{"price": 10.0, "e": 1e2, "z": -0.0}')
    assert rename.apply(untouched).envelope is untouched, "jq gives 10.0 back as 10: still left as it was"
    flags = Transform(TransformSpec(".flag |= if . then 1 else 0 end")).apply(_envelope('{"flag": true}'))
    assert flags.envelope is not None and flags.envelope.body == b'{"flag":1}', "true is not 1"
    with pytest.raises(TransformError, match="NaN, which is not JSON"):
        rename.apply(_envelope('{"a": NaN}'))
    with pytest.raises(TransformError, match="repeats the key 'a'"):
        rename.apply(_envelope('{"a": 1, "a": 2}'))
    with pytest.raises(TransformError, match="cannot be read as JSON here"):
        rename.apply(_envelope("[" * 5000 + "]" * 5000))


def test_an_envelope_program_sets_attributes_and_the_group_and_keeps_the_id():
    spec = TransformSpec(
        '.message_attributes.fixed = {"type": "String", "value": $who} | .attributes.group_id = "g2" '
        '| .id = "other"',
        "envelope",
        parse_args(["who=ops"]),
    )
    before = _envelope('{"a": 1}', kept=MessageAttribute("Number", "5"))
    after = Transform(spec).apply(before).envelope
    assert after is not None and after.id == "m1" and after.body == before.body
    assert after.attributes["group_id"] == "g2"
    assert after.message_attributes == {"kept": ("Number", "5"), "fixed": ("String", "ops")}
    with pytest.raises(TransformError, match="not an envelope object"):
        Transform(TransformSpec(".body", "envelope")).apply(before)
    with pytest.raises(TransformError, match="'type' and 'value'"):
        Transform(TransformSpec('.message_attributes.x = "y"', "envelope")).apply(before)
    with pytest.raises(UsageError, match="NAME=VALUE"):
        parse_args(["no-equals"])
    text = diff(Transform(spec).apply(before))
    assert '+    "fixed": {' in text and '-    "group_id": "g1"' in text and '+    "group_id": "g2"' in text


# Redrive with a repair, on LocalStack ---------------------------------------------------------------------


def _pair_with(sqs, unique, bodies, fifo=False, groups=1):
    """A queue and its DLQ holding ``bodies`` (with ATTRIBUTES), sent in order; returns the queue's URL, the
    DLQ's, and the ids of the messages by their index."""
    url, dlq, _ = dead_letter_pair(sqs, unique, 0, fifo=fifo)
    ids = {}
    for start in range(0, len(bodies), 10):
        entries = []
        for n in range(start, min(start + 10, len(bodies))):
            entry = {"Id": str(n), "MessageBody": bodies[n], "MessageAttributes": ATTRIBUTES}
            if fifo:
                entry |= {"MessageGroupId": f"g{n % groups}", "MessageDeduplicationId": f"d{n}"}
            entries.append(entry)
        answer = sqs.send_message_batch(QueueUrl=dlq, Entries=entries)
        assert not answer.get("Failed")
        ids |= {int(r["Id"]): r["MessageId"] for r in answer["Successful"]}
    assert depth(sqs, dlq) == len(bodies)
    return url, dlq, ids


def _redrive(invoke, dlq, journal, *args):
    result = invoke(
        "dlq", "redrive", dlq, "--yes", "--engine", "client", "--journal", str(journal), "-o", "json", *args
    )
    return result, json.loads(result.stdout) if result.stdout.strip().startswith("{") else None


@pytest.mark.slow
def test_200_dead_letters_150_with_a_renamed_field_all_arrive_repaired_with_every_attribute(
    invoke, localstack, unique, tmp_path
):
    sqs = localstack
    bodies = [
        json.dumps({"n": n, "old": f"v{n}"} if n < 150 else {"n": n, "new": f"v{n}"}) for n in range(200)
    ]
    url, dlq, _ = _pair_with(sqs, unique, bodies)
    journal = tmp_path / "journal.sqlite"
    result, report = _redrive(
        invoke, f"sqs:{unique}-dlq", journal, "--transform-body", RENAME, "--concurrency", "4"
    )
    assert result.exit_code == 0, result.stderr
    assert (report["moved"], report["failed"], report["skipped"]) == (200, [], 0)
    arrived = drain(sqs, url, 200)
    assert Counter(json.loads(m["Body"])["n"] for m in arrived) == Counter(range(200)), "each once"
    for message in arrived:
        body = json.loads(message["Body"])
        assert body == {"n": body["n"], "new": f"v{body['n']}"}
        if body["n"] >= 150:
            assert message["Body"] == bodies[body["n"]], "left as it was: byte for byte"
        for name, value in ATTRIBUTES.items():
            assert message["MessageAttributes"][name] == value, name
    assert depth(sqs, dlq) == 0
    with sqlite3.connect(journal) as db:
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        hashes = [row[0].split() for row in db.execute("SELECT repair FROM messages")]
    assert json.loads(meta["transform"]) == {"scope": "body", "program": RENAME, "args": {}}
    assert len(hashes) == 200 and sum(before != after for before, after in hashes) == 150


def test_a_program_that_fails_on_10_leaves_exactly_those_in_the_dlq_named_exit_3(
    invoke, localstack, unique, tmp_path
):
    sqs = localstack
    url, dlq, _ = _pair_with(sqs, unique, [json.dumps({"n": n}) for n in range(40)])
    program = 'if .n % 4 == 0 then error("no repair for \\(.n)") else .ok = true end'
    result, report = _redrive(invoke, f"sqs:{unique}-dlq", tmp_path / "j.sqlite", "--transform-body", program)
    assert result.exit_code == ExitCode.PARTIAL, result.stderr
    assert report["moved"] == 30 and len(report["failed"]) == 10
    assert all("jq: no repair for" in failure["reason"] for failure in report["failed"])
    assert sorted(json.loads(m["Body"])["n"] for m in drain(sqs, url, 30)) == [n for n in range(40) if n % 4]
    left = drain(sqs, dlq, 10)
    assert sorted(json.loads(m["Body"])["n"] for m in left) == list(range(0, 40, 4))
    assert {m["MessageId"] for m in left} == {failure["id"] for failure in report["failed"]}, "named by id"


def test_an_envelope_program_sets_an_attribute_and_regroups_a_fifo_dlq_in_order(
    invoke, localstack, unique, tmp_path
):
    sqs = localstack
    url, _dlq, _ = _pair_with(sqs, unique, [json.dumps({"n": n}) for n in range(30)], fifo=True, groups=3)
    program = (
        '.message_attributes.repaired = {"type": "String", "value": $by} '
        '| .attributes.group_id = (if (.body | fromjson | .n) % 2 == 0 then "even" else "odd" end)'
    )
    result, report = _redrive(
        invoke, f"sqs:{unique}-dlq.fifo", tmp_path / "j.sqlite", "--transform", program,
        "--transform-arg", "by=on-call", "--concurrency", "2",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert report["moved"] == 30
    by_group: dict[str, list[int]] = {}
    for message in drain(sqs, url, 30):
        assert message["MessageAttributes"]["repaired"] == {"DataType": "String", "StringValue": "on-call"}
        assert message["MessageAttributes"]["s"] == ATTRIBUTES["s"]
        by_group.setdefault(message["Attributes"]["MessageGroupId"], []).append(
            json.loads(message["Body"])["n"]
        )
    assert {group: sorted(numbers) for group, numbers in by_group.items()} == {
        "even": list(range(0, 30, 2)),
        "odd": list(range(1, 30, 2)),
    }
    for numbers in by_group.values():  # each new group keeps the order each old group (n % 3) had
        for old in range(3):
            from_old = [n for n in numbers if n % 3 == old]
            assert from_old == sorted(from_old), numbers


def test_a_program_that_drops_the_group_of_a_fifo_message_is_refused(invoke, localstack, unique, tmp_path):
    sqs = localstack
    url, dlq, _ = _pair_with(sqs, unique, [json.dumps({"n": n}) for n in range(3)], fifo=True)
    program = "del(.attributes.group_id)"
    result, report = _redrive(invoke, f"sqs:{unique}-dlq.fifo", tmp_path / "j.sqlite", "--transform", program)
    assert result.exit_code == ExitCode.PARTIAL and report["moved"] == 0
    reasons = sorted(f["reason"] for f in report["failed"])
    refused = f"repaired into a message sqs:{unique}.fifo refuses: the program removed its group id"
    assert len(reasons) == 3 and reasons[2].startswith(refused), "the first; the rest of its group waits"
    assert reasons[:2] == ["held back: an earlier message of its group was not repaired"] * 2
    assert (depth(sqs, url), depth(sqs, dlq)) == (0, 3)


def test_a_fifo_group_waits_behind_a_message_not_repaired_and_broker_fields_are_not_set(
    invoke, localstack, unique, tmp_path
):
    sqs = localstack
    url, dlq, _ = _pair_with(sqs, unique, [json.dumps({"n": n}) for n in range(5)] + ["not json"], fifo=True)
    result, report = _redrive(
        invoke, f"sqs:{unique}-dlq.fifo", tmp_path / "j.sqlite", "--transform-body", ".ok = 1"
    )
    assert result.exit_code == ExitCode.PARTIAL and report["moved"] == 5
    assert [json.loads(m["Body"])["n"] for m in drain(sqs, url, 5)] == [0, 1, 2, 3, 4]
    _pair_with(sqs, f"{unique}-b", ['{"n": 0}', "not json", '{"n": 2}', '{"n": 3}'], fifo=True)
    result, report = _redrive(
        invoke, f"sqs:{unique}-b-dlq.fifo", tmp_path / "k.sqlite", "--transform-body", ".ok = 1"
    )
    assert result.exit_code == ExitCode.PARTIAL and report["moved"] == 1
    reasons = sorted(f["reason"] for f in report["failed"])
    assert reasons[0].startswith("held back: an earlier message of its group") and len(reasons) == 3
    stamped, report = _redrive(
        invoke,
        f"sqs:{unique}-b-dlq.fifo",
        tmp_path / "l.sqlite",
        "--transform",
        '.attributes.sent_at = "now"',
    )
    assert stamped.exit_code == ExitCode.PARTIAL and report["moved"] == 0
    assert any("attributes.sent_at cannot be set here" in f["reason"] for f in report["failed"])
    assert (
        depth(sqs, dlq) == 1
        and depth(sqs, sqs.get_queue_url(QueueName=f"{unique}-b-dlq.fifo")["QueueUrl"]) == 3
    )


def test_a_dry_run_shows_each_diff_and_moves_nothing(invoke, localstack, unique, tmp_path):
    sqs = localstack
    url, dlq, _ = _pair_with(sqs, unique, ['{"old": 1}', '{"new": 2}', "not json"])
    result, report = _redrive(
        invoke, f"sqs:{unique}-dlq", tmp_path / "j.sqlite", "--transform-body", RENAME, "--dry-run"
    )
    assert result.exit_code == ExitCode.PARTIAL, "the body that is not JSON is named"
    assert len(report["would_move"]) == 2 and "not JSON" in report["failed"][0]["reason"]
    repairs = {json.dumps(r["before"]["body"]): r["after"]["body"] for r in report["repairs"]}
    assert repairs == {'{"old": 1}': {"new": 1}, '{"new": 2}': {"new": 2}}
    text = invoke(
        "dlq", "redrive", f"sqs:{unique}-dlq", "--engine", "client", "--dry-run", "--transform-body", RENAME
    )
    assert '-    "old": 1' in text.stdout and '+    "new": 1' in text.stdout and "unchanged" in text.stdout
    assert (depth(sqs, url), depth(sqs, dlq)) == (0, 3)
    assert not (tmp_path / "j.sqlite").exists(), "a dry run writes no journal"


def test_resume_with_another_program_is_refused(invoke, localstack, unique, tmp_path, monkeypatch):
    sqs = localstack
    _url, dlq, _ = _pair_with(sqs, unique, [json.dumps({"n": n}) for n in range(5)])
    journal = tmp_path / "j.sqlite"
    first, _ = _redrive(invoke, f"sqs:{unique}-dlq", journal, "--transform-body", ".a = 1", "--max", "1")
    assert first.exit_code == 0, first.stderr
    with sqlite3.connect(journal) as db:  # unfinished, as a crash after a receive leaves it
        assert db.execute("UPDATE messages SET state = 'held' WHERE state = 'released'").rowcount > 0
    other, _ = _redrive(invoke, f"sqs:{unique}-dlq", journal, "--transform-body", ".a = 2", "--resume")
    assert other.exit_code == ExitCode.USAGE and "records another redrive" in other.stderr
    none, _ = _redrive(invoke, f"sqs:{unique}-dlq", journal, "--resume")
    assert none.exit_code == ExitCode.USAGE, "resuming a repair without its program is refused too"
    same, _ = _redrive(invoke, f"sqs:{unique}-dlq", journal, "--transform-body", ".a = 1", "--resume")
    assert same.exit_code == 0, same.stderr
    assert depth(sqs, dlq) == 0


@pytest.mark.slow
def test_kill_9_mid_repair_then_resume_sends_each_once_repaired_once(localstack_endpoint, unique, tmp_path):
    sqs, env, chooser = (
        boto3_client("sqs", localstack_endpoint),
        msgctl_env(localstack_endpoint),
        random.Random(16),
    )
    program = ".repairs = ((.repairs // 0) + 1)"
    killed = 0

    def resume_and_check(command, journal, url, dlq):
        again = [*command, "--resume"] if journal.exists() else command  # (killed before it made one)
        resumed = subprocess.run(again, env=env, capture_output=True, text=True)
        assert resumed.returncode == 0, resumed.stderr
        named = set(json.loads(resumed.stdout)["possible_duplicates"])
        arrived = drain(sqs, url, 40)
        counts = Counter(json.loads(m["Body"])["n"] for m in arrived)
        assert set(counts) == set(range(40)), "no message lost"
        twice = {m["MessageId"] for m in arrived if counts[json.loads(m["Body"])["n"]] > 1}
        assert len(twice) <= 2 * len(named), "only a message named as a possible duplicate arrives twice"
        assert {json.loads(m["Body"])["repairs"] for m in arrived} == {1}, "repaired once, never twice"
        assert depth(sqs, dlq) == 0

    with ThreadPoolExecutor(3) as resuming:  # a resume may wait out a killed receive's hold: side by side
        checks = []
        for trial in range(3):
            url, dlq, _ = _pair_with(sqs, f"{unique}-{trial}", [json.dumps({"n": n}) for n in range(40)])
            command = msgctl_command(
                "dlq", "redrive", f"sqs:{unique}-{trial}-dlq", "--yes", "--engine", "client",
                "--journal", str(tmp_path / f"j{trial}.sqlite"), "--transform-body", program, "--rate", "30",
            )  # fmt: skip
            process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                process.wait(timeout=chooser.uniform(0.8, 1.8))  # it may finish first: a trial all the same
            except subprocess.TimeoutExpired:
                process.send_signal(signal.SIGKILL)
                process.wait()
                killed += 1
            checks.append(resuming.submit(resume_and_check, command, tmp_path / f"j{trial}.sqlite", url, dlq))
        for check in checks:
            check.result()
    assert killed >= 2, "most trials are killed mid-run"


# Redrive with a repair, on ActiveMQ -----------------------------------------------------------------------


def _amq_dead_letters(invoke, stomp_conn, name, bodies, grouped=True):
    from tests.helpers import wait_depth
    from tests.test_activemq_fidelity import _nack_into_dlq

    group = {"JMSXGroupID": "g", "msgctl_group": "g"} if grouped else {}
    messages = [
        (body.encode(), {"persistent": "true", "priority": "6", "tenant": f"t{n}", **group})
        for n, body in enumerate(bodies)
    ]
    _nack_into_dlq(stomp_conn, name, messages)
    wait_depth(invoke, f"DLQ.{name}", len(bodies))


@pytest.mark.slow
def test_activemq_200_dead_letters_repaired_in_transactions_with_every_property(
    invoke, amq, stomp_conn, unique
):
    from tests.helpers import amq_depth, consume_all

    bodies = [json.dumps({"n": n, "old": n} if n < 150 else {"n": n, "new": n}) for n in range(200)]
    _amq_dead_letters(invoke, stomp_conn, unique, bodies)
    result = invoke(
        "dlq", "redrive", f"amq:queue/DLQ.{unique}", "--yes", "-o", "json", "--transform-body", RENAME
    )
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["moved"], report["failed"], report["skipped"]) == (200, [], 0)
    frames = consume_all(stomp_conn, unique, 200)
    assert sorted(json.loads(f.body)["n"] for f in frames) == list(range(200))
    for frame in frames:
        body = json.loads(frame.body)
        assert body == {"n": body["n"], "new": body["n"]}
        assert (frame.headers["tenant"], frame.headers["priority"]) == (f"t{body['n']}", "6")
        assert frame.headers["msgctl_group"] == "g", "the group goes with it"
        assert frame.headers["persistent"] == "true" and "content-length" not in frame.headers, "still text"
    assert amq_depth(invoke, f"DLQ.{unique}") == 0


def test_activemq_failures_stay_named_and_an_envelope_program_sets_properties(
    invoke, amq, stomp_conn, unique
):
    from tests.helpers import amq_depth, consume_all
    from tests.test_activemq_fidelity import _browse

    _amq_dead_letters(invoke, stomp_conn, unique, [json.dumps({"n": n}) for n in range(20)], grouped=False)
    dry = invoke(
        "dlq", "redrive", f"amq:queue/DLQ.{unique}", "-o", "json", "--dry-run",
        "--transform", '.message_attributes.fixed = {"type": "String", "value": "yes"} '
        '| .attributes.priority = 2',
    )  # fmt: skip
    assert dry.exit_code == 0, dry.stderr
    (first, *_) = json.loads(dry.stdout)["repairs"]
    assert first["after"]["message_attributes"]["fixed"] == {"type": "String", "value": "yes"}
    assert amq_depth(invoke, f"DLQ.{unique}") == 20, "a dry run moves nothing"
    program = (
        'if (.body | fromjson | .n) % 5 == 0 then error("cannot repair") '
        'else .message_attributes.fixed = {"type": "String", "value": "yes"} | .attributes.priority = 2 end'
    )
    result = invoke(
        "dlq", "redrive", f"amq:queue/DLQ.{unique}", "--yes", "-o", "json", "--transform", program
    )
    assert result.exit_code == ExitCode.PARTIAL, result.stderr
    report = json.loads(result.stdout)
    assert report["moved"] == 16 and len(report["failed"]) == 4
    left = _browse(stomp_conn, f"DLQ.{unique}")
    assert sorted(json.loads(f.body)["n"] for f in left) == [0, 5, 10, 15]
    assert {f.headers["message-id"] for f in left} == {failure["id"] for failure in report["failed"]}
    for frame in consume_all(stomp_conn, unique, 16):
        assert (frame.headers["fixed"], frame.headers["priority"], frame.headers["tenant"][0]) == (
            "yes",
            "2",
            "t",
        )
    refused = invoke(
        "dlq",
        "redrive",
        f"amq:queue/DLQ.{unique}",
        "--yes",
        "-o",
        "json",
        "--transform",
        ".attributes.redelivered = 7",
    )
    assert refused.exit_code == ExitCode.PARTIAL and "cannot be changed on ActiveMQ" in refused.stdout


# Replay with a repair -------------------------------------------------------------------------------------


def _capture(path, bodies, attributes=None):
    lines = [
        Envelope("sqs:captured", f"c{n}", body.encode(), {"group_id": "g"}, attributes or {}).dumps()
        for n, body in enumerate(bodies)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_replay_repairs_before_the_content_id_and_leaves_what_it_cannot_repair_unsent(
    invoke, localstack, unique, tmp_path
):
    sqs = localstack
    url = sqs.create_queue(QueueName=f"{unique}.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    bodies = [json.dumps({"n": n, "noise": n}) for n in range(6)] + [
        '{"n": 7, "noise": 1, "x": 1}',
        "not json",
    ]
    source = _capture(tmp_path / "captured.ndjson", bodies, {"kept": MessageAttribute("String", "yes")})
    args = [
        "--to",
        f"sqs:{unique}.fifo",
        "--dedup-id",
        "content",
        "--ledger",
        str(tmp_path / "ledger.sqlite"),
    ]
    program = "del(.noise) | .n = (.n % 3)"  # lines 0-5 become three messages, each twice
    result = invoke("replay", str(source), *args, "--transform-body", program, "-o", "json")
    assert result.exit_code == ExitCode.PARTIAL, result.stderr
    report = json.loads(result.stdout)
    assert report["replayed"] == 4 and report["repeated_in_input"] == 3, "the id is the repaired message's"
    assert [u["line"] for u in report["unrepaired"]] == [8] and "not JSON" in report["unrepaired"][0][
        "reason"
    ]
    assert "line 8 left unsent" in result.stderr
    arrived = drain(sqs, url, 4)
    assert [m["Body"] for m in arrived] == ['{"n":0}', '{"n":1}', '{"n":2}', '{"n":1,"x":1}']
    assert all(m["MessageAttributes"]["kept"]["StringValue"] == "yes" for m in arrived)
    with sqlite3.connect(tmp_path / "ledger.sqlite") as db:
        repairs = [row[0].split() for row in db.execute("SELECT repair FROM replayed")]
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
    assert len(repairs) == 4 and len({r[0] for r in repairs}) == 1, "each send names the program"
    assert json.loads(meta[f"transform {repairs[0][0]}"])["program"] == program, (
        "and the ledger keeps its text"
    )
    again = invoke("replay", str(source), *args, "--transform-body", program, "-o", "json")
    assert json.loads(again.stdout)["replayed"] == 0, "the ledger knows the repaired messages"


def test_replay_dry_run_shows_each_diff_and_sends_nothing(invoke, localstack, unique, tmp_path):
    sqs = localstack
    url = sqs.create_queue(QueueName=unique)["QueueUrl"]
    source = _capture(tmp_path / "captured.ndjson", ['{"old": 1}', '{"old": 2}'])
    args = ["replay", str(source), "--to", f"sqs:{unique}", "--dry-run", "--transform-body", RENAME]
    text = invoke(*args)
    assert text.exit_code == 0, text.stderr
    assert text.stdout.count('+    "new": ') == 2 and '-    "old": 2' in text.stdout
    document = json.loads(invoke(*args, "-o", "json").stdout)
    assert [r["after"]["body"] for r in document["repairs"]] == [{"new": 1}, {"new": 2}]
    lines = [json.loads(line) for line in invoke(*args, "-o", "ndjson").stdout.splitlines()]
    assert [line["before"]["body"] for line in lines] == [{"old": 1}, {"old": 2}]
    assert depth(sqs, url) == 0


def test_replay_into_activemq_sets_the_properties_a_program_gives(invoke, amq, stomp_conn, unique, tmp_path):
    from tests.helpers import consume_all

    source = _capture(tmp_path / "captured.ndjson", [json.dumps({"n": n}) for n in range(3)])
    program = '.message_attributes.region = {"type": "String", "value": $region}'
    result = invoke(
        "replay", str(source), "--to", f"amq:queue/{unique}", "--ledger", str(tmp_path / "l.sqlite"),
        "--transform", program, "--transform-arg", "region=eu", "-o", "json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    frames = consume_all(stomp_conn, unique, 3)
    assert sorted(json.loads(f.body)["n"] for f in frames) == [0, 1, 2]
    assert {f.headers["region"] for f in frames} == {"eu"}


# dlq edit -------------------------------------------------------------------------------------------------

EDITOR_SCRIPT = """
import json, sys
path = sys.argv[1]
mode = {mode!r}
if mode == "empty":
    open(path, "w").close()
elif mode == "edit":
    envelope = json.load(open(path))
    body = json.loads(envelope["body"])
    body["fixed"] = True
    envelope["body"] = json.dumps(body)
    envelope["message_attributes"]["editor"] = {{"type": "String", "value": "by hand"}}
    json.dump(envelope, open(path, "w"))
"""


def _editor(tmp_path, monkeypatch, mode):
    import sys

    script = tmp_path / f"editor-{mode}.py"
    script.write_text(EDITOR_SCRIPT.format(mode=mode))
    monkeypatch.setenv("EDITOR", f"{sys.executable} {script}")
    monkeypatch.delenv("VISUAL", raising=False)


def test_dlq_edit_moves_the_one_message_as_saved_and_nothing_when_unchanged(
    invoke, localstack, unique, tmp_path, monkeypatch
):
    sqs = localstack
    url, dlq, ids = _pair_with(sqs, unique, [json.dumps({"n": n}) for n in range(3)])
    journal = ["--journal", str(tmp_path / "j.sqlite"), "-o", "json"]
    for mode in ("unchanged", "empty"):
        _editor(tmp_path, monkeypatch, mode)
        left = invoke("dlq", "edit", f"sqs:{unique}-dlq", "--id", ids[1], *journal)
        assert left.exit_code == 0 and json.loads(left.stdout)["moved"] == 0, left.stderr
        assert (depth(sqs, url), depth(sqs, dlq)) == (0, 3), mode
    _editor(tmp_path, monkeypatch, "edit")
    edited = invoke("dlq", "edit", f"sqs:{unique}-dlq", "--id", ids[1], *journal)
    assert edited.exit_code == 0, edited.stderr
    assert json.loads(edited.stdout)["moved"] == 1
    (arrived,) = drain(sqs, url, 1)
    assert json.loads(arrived["Body"]) == {"n": 1, "fixed": True}
    assert arrived["MessageAttributes"]["editor"] == {"DataType": "String", "StringValue": "by hand"}
    assert arrived["MessageAttributes"]["s"] == ATTRIBUTES["s"], "the rest of the envelope as it was"
    assert sorted(json.loads(m["Body"])["n"] for m in drain(sqs, dlq, 2)) == [0, 2]
    with sqlite3.connect(tmp_path / "j.sqlite") as db:
        assert db.execute("SELECT state FROM messages WHERE message_id = ?", (ids[1],)).fetchone() == (
            "deleted",
        )
    gone = invoke("dlq", "edit", f"sqs:{unique}-dlq", "--id", ids[1], *journal)
    assert gone.exit_code == ExitCode.PARTIAL and "no message" in gone.stderr


def test_dlq_edit_finishes_an_edit_that_stopped_and_sends_the_new_one(
    invoke, localstack, unique, tmp_path, monkeypatch
):
    from msgctl.core.journal import Journal

    sqs = localstack
    url, dlq, ids = _pair_with(sqs, unique, [json.dumps({"n": 0})])
    path = tmp_path / "edit.sqlite"
    stopped = Journal(path)  # as a kill between the send and its confirmation leaves it
    stopped.set_meta(
        {"dlq": f"sqs:{unique}-dlq", "target": f"sqs:{unique}", "mode": "move", "transform": "edit"}
    )
    stopped.received([(ids[0], "a-receipt-long-expired")])
    stopped.close()
    _editor(tmp_path, monkeypatch, "edit")
    result = invoke("dlq", "edit", f"sqs:{unique}-dlq", "--id", ids[0], "--journal", str(path), "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert "an earlier edit had stopped" in result.stderr and f"it may have sent {ids[0]}" in result.stderr
    assert json.loads(result.stdout)["moved"] == 1, "the new edit is sent, not taken for the old one"
    assert [json.loads(m["Body"]) for m in drain(sqs, url, 1)] == [{"n": 0, "fixed": True}]
    assert depth(sqs, dlq) == 0


def test_dlq_edit_on_activemq(invoke, amq, stomp_conn, unique, tmp_path, monkeypatch):
    from tests.helpers import amq_depth, consume_all
    from tests.test_activemq_fidelity import _browse

    _amq_dead_letters(invoke, stomp_conn, unique, [json.dumps({"n": n}) for n in range(3)])
    target = next(f for f in _browse(stomp_conn, f"DLQ.{unique}") if json.loads(f.body)["n"] == 2)
    _editor(tmp_path, monkeypatch, "edit")
    result = invoke(
        "dlq", "edit", f"amq:queue/DLQ.{unique}", "--id", target.headers["message-id"], "-o", "json"
    )
    assert result.exit_code == 0, result.stderr
    (frame,) = consume_all(stomp_conn, unique, 1)
    assert json.loads(frame.body) == {"n": 2, "fixed": True}
    assert (frame.headers["editor"], frame.headers["tenant"]) == ("by hand", "t2")
    assert amq_depth(invoke, f"DLQ.{unique}") == 2


@pytest.mark.slow
def test_activemq_says_when_messages_left_unacked_may_hide_the_rest(invoke, amq, stomp_conn, unique):
    _amq_dead_letters(invoke, stomp_conn, unique, [json.dumps({"n": n}) for n in range(215)])
    result = invoke(
        "dlq", "redrive", f"amq:queue/DLQ.{unique}", "--yes", "-o", "json",
        "--transform-body", "if .n < 205 then empty else . end",
    )  # fmt: skip
    assert result.exit_code == ExitCode.PARTIAL, result.stderr
    report = json.loads(result.stdout)
    assert report["stalled"] is True and report["skipped"] >= 200
    assert "may not have been reached" in result.stderr
    _amq_dead_letters(invoke, stomp_conn, f"{unique}-all", [json.dumps({"n": n}) for n in range(200)])
    every = invoke(
        "dlq", "redrive", f"amq:queue/DLQ.{unique}-all", "--yes", "-o", "json", "--transform-body", "empty"
    )
    assert every.exit_code == 0, "200 left, and nothing behind them: it reached all"
    assert json.loads(every.stdout)["stalled"] is False


def test_activemq_a_group_waits_behind_a_message_not_repaired(invoke, amq, stomp_conn, unique):
    from tests.helpers import consume_all
    from tests.test_activemq_fidelity import _browse

    _amq_dead_letters(invoke, stomp_conn, unique, [json.dumps({"n": n}) for n in range(6)])
    program = 'if .n == 1 then error("no") else .ok = true end'
    result = invoke(
        "dlq", "redrive", f"amq:queue/DLQ.{unique}", "--yes", "-o", "json", "--transform-body", program
    )
    assert result.exit_code == ExitCode.PARTIAL, result.stderr
    report = json.loads(result.stdout)
    assert report["moved"] == 1 and len(report["failed"]) == 5
    assert [json.loads(f.body) for f in consume_all(stomp_conn, unique, 1)] == [{"n": 0, "ok": True}]
    assert sorted(json.loads(f.body)["n"] for f in _browse(stomp_conn, f"DLQ.{unique}")) == [1, 2, 3, 4, 5]


def test_what_a_target_would_drop_is_refused_and_what_it_does_not_take_may_be_left_out():
    from types import SimpleNamespace

    from msgctl.core.redrive import Dead, _refuse_unsent_changes

    def dead(body="{}", **attributes):
        return Dead("m1", "r1", Envelope("sqs:dlq", "m1", body.encode(), attributes, {}))

    sqs = SimpleNamespace(channel="sqs:q", fifo=False)
    fifo, sns = SimpleNamespace(channel="sqs:q.fifo", fifo=True), SimpleNamespace(channel="sns:t", fifo=False)
    read = {"sent_at": "2026-12-01T00:00:00Z", "group_id": "g"}
    _refuse_unsent_changes(dead(**read), dead(group_id="h", sent_at=read["sent_at"]), fifo)
    _refuse_unsent_changes(dead(**read), dead(), sqs)  # left out: the target takes neither
    _refuse_unsent_changes(dead(), dead(aws_trace_header="Root=1-x"), sqs)
    for before, after, target, refused in (
        (dead(**read), dead(group_id="h"), sqs, "attributes.group_id cannot be set here"),
        (dead(), dead(aws_trace_header="Root=1-x"), sns, "attributes.aws_trace_header cannot be set"),
        (dead(), dead(subject="hi"), sqs, "attributes.subject cannot be set"),
        (dead(**read), dead(sent_at="now", group_id="g"), fifo, "attributes.sent_at cannot be set"),
    ):
        with pytest.raises(UsageError, match=refused):
            _refuse_unsent_changes(before, after, target)
    notification = {"Type": "Notification", "Message": '{"n": 1}', "MessageId": "x"}
    wrapped = json.dumps(notification)
    inside = json.dumps(notification | {"Message": '{"n": 2}'})
    _refuse_unsent_changes(dead(wrapped), dead(inside), sns)  # the Message changed: the topic gets it
    with pytest.raises(UsageError, match="SNS notification"):
        _refuse_unsent_changes(dead(wrapped), dead(json.dumps(notification | {"new": 1})), sns)
