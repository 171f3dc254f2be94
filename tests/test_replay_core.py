"""The replay core on a fake target: ids, validation before sending, the ledger, group order, failures."""

import json
import threading
import time
from collections import Counter

import pytest

from msgctl.core.ledger import Ledger
from msgctl.core.outbound import Delivery
from msgctl.core.replay import (
    DEDUP_WINDOW_S,
    RecentSends,
    Replayed,
    ReplayOptions,
    ReplayPlan,
    ReplayReport,
    planned,
    prepare,
    replay,
)
from msgctl.core.replay_ids import Template, content_hash, parse_dedup_rule, parse_group_rule
from msgctl.core.replay_input import ReplayInput
from msgctl.core.workers import LaneDealer
from msgctl.envelope import Envelope, MessageAttribute
from msgctl.errors import UsageError
from msgctl.filter.lint import parse_policy


def line(n, group=None, dedup=None, body=None, attrs=None, message_id="default"):
    attributes = {}
    if group is not None:
        attributes["group_id"] = group
    if dedup is not None:
        attributes["dedup_id"] = dedup
    return json.dumps(
        {
            "channel": "sqs:src",
            "id": f"m{n}" if message_id == "default" else message_id,
            "body": body if body is not None else json.dumps({"n": n, "order": {"id": f"o{n}"}}),
            "attributes": attributes,
            "message_attributes": attrs if attrs is not None else {"n": {"type": "Number", "value": str(n)}},
        }
    )


def prepared(lines, plan=ReplayPlan(), report=None, on_batch=None):
    """The messages both passes find in these input lines."""
    report = report if report is not None else ReplayReport()
    with ReplayInput.of_items(lines) as source:
        found = prepare(source, plan, report, on_batch)
        return list(planned(source, found, plan))


class FakeTarget:
    def __init__(self, fifo=False, dedups=False, batch_size=10, refuse=(), slow=0.0, ordered=None, unsure=()):
        self.channel, self.fifo, self.dedups, self.batch_size = "fake", fifo, dedups, batch_size
        self.unsure = set(unsure)  # refused with no answer: they may have arrived
        self.ordered = fifo if ordered is None else ordered
        self.refuse, self.slow = set(refuse), slow
        self.sent: list[Replayed] = []
        self.calls: list[list[str]] = []
        self.lock = threading.Lock()

    def send(self, messages):
        """As the real targets do: once a message of a group fails, the rest of its group is not sent."""
        time.sleep(self.slow)
        failed, broken = [], set()
        with self.lock:
            self.calls.append([m.id for m in messages])
            for message in messages:
                if message.id in self.unsure:
                    self.sent.append(message)  # it did arrive; the reply was lost
                    failed.append((message, "no reply"))
                elif message.id in self.refuse or (message.group_id and message.group_id in broken):
                    failed.append((message, "refused"))
                    broken.add(message.group_id)
                else:
                    self.sent.append(message)
        return Delivery(failed, unsure=[m for m in messages if m.id in self.unsure])

    def check(self, message):
        pass


def run(lines, plan=ReplayPlan(), target=None, ledger=None, options=ReplayOptions()):
    report = ReplayReport()
    messages = prepared(lines, plan, report)
    ledger = ledger if ledger is not None else Ledger_in_memory()
    return replay(messages, target or FakeTarget(), ledger, options, report), messages


def test_templates_read_id_attributes_and_body_paths():
    envelope = Envelope.from_json(
        json.loads(line(7, body=json.dumps({"order": {"id": "A-1"}, "items": [{"sku": 3}]})))
    )
    assert Template("{id}/{attr.n}/{body.order.id}/{body.items.0.sku}").render(envelope) == "m7/7/A-1/3"


@pytest.mark.parametrize(
    "template, reason",
    [
        ("{attr.missing}", "attribute 'missing'"),
        ("{body.order.nope}", "no 'order.nope'"),
        ("{body.order}", "not a string"),
    ],
)
def test_a_template_without_a_value_names_the_line(template, reason):
    with pytest.raises(UsageError, match=rf"line 1: .*{reason}.*nothing was sent"):
        run([line(1)], ReplayPlan(dedup=parse_dedup_rule(f"template:{template}")))


def test_unknown_rules_and_template_fields_are_usage_errors():
    for text in ("nope", "template:{who}", "template:"):
        with pytest.raises(UsageError):
            parse_dedup_rule(text)
    with pytest.raises(UsageError):
        parse_group_rule("content")


def test_content_hash_ignores_attribute_order_and_sees_body_attributes_and_group():
    a = {"x": MessageAttribute("String", "1"), "y": MessageAttribute("Binary", b"\x00")}
    b = dict(reversed(list(a.items())))
    base = Envelope("c", "1", b"body", {}, a)
    assert content_hash(base, "g") == content_hash(Envelope("c", "2", b"body", {}, b), "g")
    assert content_hash(base, "g") != content_hash(base, "h")
    assert content_hash(base, "g") != content_hash(Envelope("c", "1", b"body2", {}, a), "g")
    assert content_hash(base, "g") != content_hash(Envelope("c", "1", b"body", {}, {"x": a["x"]}), "g")


def test_default_dedup_id_comes_from_the_message_id_else_the_kept_one_else_content():
    same = {"body": "same", "attrs": {}}
    report, messages = run([line(1, **same), line(2, **same), line(3, dedup="kept-3")])
    assert report.replayed == 3 and report.repeated_in_input == 0, "identical bodies are distinct messages"
    by_id = prepared([line(3, dedup="kept-3")], ReplayPlan(dedup=parse_dedup_rule("message-id")))
    assert messages[2].dedup_id == by_id[0].dedup_id != "kept-3" and len(by_id[0].dedup_id) == 64
    _, without_id = run([line(4, dedup="kept-4", message_id=None), line(5, message_id=None)])
    assert without_id[0].dedup_id == "kept-4"
    assert without_id[1].dedup_id == content_hash(
        Envelope.from_json(json.loads(line(5, message_id=None))), None
    )
    _, by_content = run([line(1, **same), line(2, **same)], ReplayPlan(dedup=parse_dedup_rule("content")))
    assert len(by_content) == 1, "content collapses them only when asked"


def test_the_same_captured_message_twice_in_the_input_is_sent_once():
    report, messages = run([line(1), line(1)])
    assert (len(messages), report.repeated_in_input) == (1, 1)


def test_keep_without_a_dedup_id_and_fifo_without_a_group_stop_before_sending():
    target = FakeTarget(fifo=True)
    with pytest.raises(UsageError, match="line 2: the envelope has no dedup_id"):
        run(
            [line(1, group="g", dedup="d"), line(2, group="g")],
            ReplayPlan(dedup=parse_dedup_rule("keep"), fifo=True),
            target,
        )
    with pytest.raises(UsageError, match="line 3: no group id"):
        run([line(1, group="g"), line(2, group="g"), line(3)], ReplayPlan(fifo=True), target)
    assert target.calls == [], "nothing is sent when any line is bad"


def test_a_malformed_line_stops_everything_unless_skip_invalid():
    lines = [line(n) for n in range(1, 6)]
    lines[2] = '{"body": "no closing brace"'
    target = FakeTarget()
    with pytest.raises(UsageError, match="line 3: not JSON"):
        run(lines, ReplayPlan(), target)
    assert target.calls == []
    report, _ = run(lines, ReplayPlan(skip_invalid=True), target, Ledger_in_memory())
    assert [n for n, _ in report.skipped_invalid] == [3] and report.replayed == 4


def test_group_ids_from_a_template_and_ids_are_checked_for_sqs():
    _, messages = run(
        [line(1)], ReplayPlan(group=parse_group_rule("template:tenant-{body.order.id}"), fifo=True)
    )
    assert messages[0].group_id == "tenant-o1"
    with pytest.raises(UsageError, match="printable ASCII"):
        run(
            [line(1, body=json.dumps({"order": {"id": "ü" * 3}}))],
            ReplayPlan(group=parse_group_rule("template:{body.order.id}")),
        )


def test_filter_max_and_repeats_in_the_input():
    policy = parse_policy('{"n": [{"numeric": [">", 2]}]}', "attributes")
    lines = [line(n) for n in range(1, 8)] + [line(5)]
    report, messages = run(lines, ReplayPlan(filter=policy, max=3), ledger=Ledger_in_memory())
    assert [m.line for m in messages] == [3, 4, 5] and report.filtered_out == 2
    report, messages = run(lines, ReplayPlan(filter=policy), ledger=Ledger_in_memory())
    assert report.repeated_in_input == 1 and len(messages) == 5


def Ledger_in_memory(tmp=[]):  # noqa: B006 - one directory for the module's throwaway ledgers
    import tempfile
    from pathlib import Path

    if not tmp:
        tmp.append(tempfile.mkdtemp())
    return Ledger(Path(tmp[0]) / f"{time.monotonic_ns()}.sqlite")


def test_the_ledger_makes_a_second_replay_send_nothing_and_force_sends_again():
    ledger = Ledger_in_memory()
    lines = [line(n) for n in range(25)]
    target = FakeTarget()
    first, _ = run(lines, target=target, ledger=ledger)
    second, _ = run(lines, target=target, ledger=ledger)
    assert (first.replayed, second.replayed, second.already_replayed) == (25, 0, 25)
    forced, _ = run(lines, target=target, ledger=ledger, options=ReplayOptions(force=True))
    assert forced.replayed == 25 and len(target.sent) == 50
    assert ledger.counts() == {"sent": 25}


def test_what_a_dead_run_left_sending_is_sent_again_and_named_unless_the_target_dedups(tmp_path):
    lines = [line(n) for n in range(5)]
    messages = prepared(lines)
    for target, named in ((FakeTarget(dedups=False), 2), (FakeTarget(dedups=True), 0)):
        ledger = Ledger(tmp_path / f"{named}.sqlite")
        ledger.sending((m.dedup_id, m.id, m.line, None) for m in messages[:2])  # then the process died
        result = replay(messages, target, ledger, ReplayOptions(), ReplayReport())
        assert result.replayed == 5 and len(result.possible_duplicates) == named
    old = Ledger(tmp_path / "old.sqlite")
    old.sending([(messages[0].dedup_id, messages[0].id, 1, None)])
    with old._transaction() as db:  # the first send is older than the deduplication window
        db.execute("UPDATE replayed SET updated_at = ?", (time.time() - DEDUP_WINDOW_S,))
    result = replay(messages, FakeTarget(dedups=True), old, ReplayOptions(), ReplayReport())
    assert [m.id for m in result.possible_duplicates] == ["m0"]


def test_workers_keep_each_group_in_order_and_a_failure_stops_its_group_only():
    lines = [line(n, group=f"g{n % 4}") for n in range(200)]
    target = FakeTarget(fifo=True, refuse={"m41"}, slow=0.001)
    report, _ = run(lines, ReplayPlan(fifo=True), target, Ledger_in_memory(), ReplayOptions(concurrency=3))
    for group in range(4):
        sent = [int(m.id[1:]) for m in target.sent if m.group_id == f"g{group}"]
        assert sent == sorted(sent)
        if group != 1:
            assert len(sent) == 50
    assert max(int(m.id[1:]) for m in target.sent if m.group_id == "g1") < 41, "nothing after the failure"
    assert next(m.id for m, _ in report.failed) == "m41" and len(report.failed) == 40
    assert report.replayed == 160


def test_a_refused_message_is_not_in_the_ledger_so_a_rerun_sends_it():
    ledger = Ledger_in_memory()
    lines = [line(n) for n in range(10)]
    first, _ = run(lines, target=FakeTarget(refuse={"m3"}), ledger=ledger)
    assert first.replayed == 9 and [m.id for m, _ in first.failed] == ["m3"]
    target = FakeTarget()
    second, _ = run(lines, target=target, ledger=ledger)
    assert [m.id for m in target.sent] == ["m3"] and second.already_replayed == 9


def test_dry_run_sends_nothing_and_says_what_was_replayed():
    ledger = Ledger_in_memory()
    lines = [line(n) for n in range(4)]
    run(lines[:2], ledger=ledger)
    target = FakeTarget()
    report, _ = run(lines, target=target, ledger=ledger, options=ReplayOptions(dry_run=True))
    assert target.calls == [] and [m.id for m in report.preview.first] == ["m2", "m3"]
    assert report.preview.count == 2
    assert report.already_replayed == 2


def test_group_less_messages_keep_their_order_on_an_ordered_target_whatever_the_concurrency():
    lines = [line(n) for n in range(100)]
    ordered = FakeTarget(ordered=True, slow=0.001)
    run(lines, target=ordered, options=ReplayOptions(concurrency=4))
    assert [m.id for m in ordered.sent] == [f"m{n}" for n in range(100)]
    unordered, ordered_lanes = LaneDealer(4, 10, ordered=False), LaneDealer(4, 10, ordered=True)
    assert Counter(unordered.lane(None) for _ in lines) == {0: 30, 1: 30, 2: 20, 3: 20}
    assert Counter(ordered_lanes.lane(None) for _ in lines) == {0: 100}


def test_a_send_with_no_answer_stays_sending_so_the_rerun_names_it():
    ledger = Ledger_in_memory()
    lines = [line(n) for n in range(5)]
    first, _ = run(lines, target=FakeTarget(unsure={"m2"}), ledger=ledger)
    assert [m.id for m, _ in first.failed] == ["m2"] and ledger.counts() == {"sent": 4, "sending": 1}
    rerun, _ = run(lines, target=FakeTarget(), ledger=ledger)
    assert [m.id for m in rerun.possible_duplicates] == ["m2"] and rerun.replayed == 1


def test_a_failure_holds_back_the_group_less_messages_of_an_ordered_target():
    target = FakeTarget(ordered=True, refuse={"m3"}, batch_size=2)
    report, _ = run([line(n) for n in range(8)], target=target, options=ReplayOptions(concurrency=3))
    assert [m.id for m in target.sent] == ["m0", "m1", "m2"]
    assert [m.id for m, _ in report.failed] == ["m3", "m4", "m5", "m6", "m7"]


def test_the_targets_own_check_runs_before_anything_is_sent():
    def no_big_bodies(message):
        if len(message.envelope.body) > 100:
            raise UsageError("too big for this target")

    target = FakeTarget()
    lines = [line(1), line(2, body="x" * 200), line(3)]
    with pytest.raises(UsageError, match="line 2: too big for this target"):
        run(lines, ReplayPlan(check=no_big_bodies), target)
    assert target.calls == []


def test_a_ledger_written_before_target_ids_opens_and_records_them(tmp_path):
    import sqlite3

    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE replayed (dedup_id TEXT PRIMARY KEY, state TEXT NOT NULL, message_id TEXT, "
            "line INTEGER, updated_at REAL NOT NULL)"
        )
        db.execute("INSERT INTO replayed VALUES ('d1', 'sent', 'm1', 1, 1.0)")
    ledger = Ledger(path)
    assert ledger.entries(["d1"])["d1"].target_id is None
    ledger.sending([("d2", "m2", 2, None)])
    ledger.sent([("d2", "sqs-id-2")])
    assert ledger.entries(["d2"])["d2"].target_id == "sqs-id-2"


def test_a_resend_the_target_answers_with_the_earlier_id_is_named_not_counted_as_sent(monkeypatch):
    from msgctl.core import replay_scan

    class Answering(FakeTarget):
        """A FIFO queue that answers a dropped resend with the earlier message's id, as SQS does."""

        def __init__(self):
            super().__init__(fifo=False, dedups=True)
            self.ids: dict[str, str] = {}

        def send(self, messages):
            delivery = super().send(messages)
            for message in messages:
                self.ids.setdefault(message.dedup_id, f"sqs-{len(self.ids)}")
            delivery.target_ids = [(m, self.ids[m.dedup_id]) for m in messages]
            return delivery

    ledger, target, lines = Ledger_in_memory(), Answering(), [line(n) for n in range(3)]
    first, _ = run(lines, target=target, ledger=ledger)
    report = ReplayReport()
    recent = RecentSends(ledger, target, force=True)
    monkeypatch.setattr(replay_scan, "BATCH", 1)  # the repeat comes in a batch of its own
    with ReplayInput.of_items([*lines, lines[1]]) as source:  # a repeat is sent once: counted once
        found = prepare(source, ReplayPlan(), report, recent)
        messages = list(planned(source, found, ReplayPlan()))
    assert recent.count(found) == 3, "the first pass counts the resends the target will drop, to warn of them"
    capped = RecentSends(ledger, target, force=True)
    with ReplayInput.of_items([lines[0], lines[0], *lines[1:]]) as source:  # after --max: not sent
        assert capped.count(prepare(source, ReplayPlan(max=2), ReplayReport(), capped)) == 2
    forced = replay(messages, target, ledger, ReplayOptions(force=True), report)
    assert (first.replayed, forced.replayed) == (3, 0)
    assert [m.id for m in forced.deduplicated_by_target] == ["m0", "m1", "m2"]
    assert ledger.counts() == {"sent": 3}


def test_a_file_checked_in_parallel_ranges_gives_what_one_pass_gives(monkeypatch):
    from msgctl import file_ranges
    from msgctl.core import replay_scan

    lines = [line(n, group=f"g{n % 3}") for n in range(400)]
    lines[50] = line(7, group="g1")  # a repeat of line 8, in the same range
    lines[350] = line(20, group="g2")  # and one of line 21, in another range
    lines[120] = '{"body": 5}'
    lines[300] = ""
    lines += ['{"partial": true, "reason": "cut"}']
    plan = ReplayPlan(skip_invalid=True)

    def scanned(parallel, plan=plan):
        monkeypatch.setattr(file_ranges, "PARALLEL_MIN_BYTES", 1 if parallel else 10**12)
        monkeypatch.setattr(replay_scan, "MAX_WORKERS", 3)
        monkeypatch.setattr(replay_scan.os, "cpu_count", lambda: 3)
        report = ReplayReport()
        with ReplayInput.of_items(lines) as source:
            found = prepare(source, plan, report, preview=True)
            return found, report, [m.line for m in planned(source, found, plan)]

    (one, one_report, one_lines), (ranges, ranges_report, ranges_lines) = scanned(False), scanned(True)
    assert ranges.kinds == one.kinds and ranges_lines == one_lines
    assert ranges_report == one_report
    assert (ranges_report.repeated_in_input, ranges_report.skipped_invalid[0][0]) == (2, 121)
    assert ranges_report.partial_input == "cut" and ranges_report.planned == 400 - 4
    assert ranges.settled_late, "the repeats make the first pass's tally no count of what is sent"
    # some envelopes without an id: a message is then named by its line in the file, not in its range
    clean = [line(n, group=f"g{n % 3}", message_id=None if n % 2 else "default") for n in range(400)]
    lines[:] = clean
    (one, _, _), (ranges, _, _) = scanned(False), scanned(True)
    assert not ranges.settled_late and ranges.tally.to_json() == one.tally.to_json()
    assert [m["line"] for m in ranges.tally.to_json()["last"]] == list(range(396, 401))
    assert [m["id"] for m in ranges.tally.to_json()["last"]] == [
        "line-396",
        "m396",
        "line-398",
        "m398",
        "line-400",
    ]
    lines[:] = [*clean[:300], '{"body": 5}', *clean[300:]]
    with pytest.raises(UsageError, match="line 301: envelope 'body' must be a string"):
        scanned(True, ReplayPlan())


def test_deduplication_ids_stay_what_earlier_versions_made():
    """A ledger written by an earlier version must still know its messages: the ids are fixed."""
    import hashlib

    message = prepared([line(1)])[0]
    assert message.dedup_id == hashlib.sha256(b"msgctl-replay:m1").hexdigest()
    kept = prepared(
        [line(2, group="g", dedup="my-dedup-id")], plan=ReplayPlan(dedup=parse_dedup_rule("keep"))
    )
    assert (kept[0].dedup_id, kept[0].group_id) == ("my-dedup-id", "g")
    anonymous = prepared([line(3, message_id=None)])[0]
    assert anonymous.dedup_id == content_hash(anonymous.envelope, None)
    assert anonymous.id == "line-1"
