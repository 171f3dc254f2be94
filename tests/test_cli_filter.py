"""filter commands: lint and test offline, attach/show/detach on moto server and LocalStack, to-selector
checked against ActiveMQ's own selector evaluation."""

import itertools
import json
import queue

import pytest

from msgctl.envelope import Envelope, MessageAttribute
from msgctl.errors import ExitCode
from msgctl.filter.engine import FilterPolicy, Message
from tests.helpers import queue_subscription


def test_lint_reports_paths_and_exits_2(invoke) -> None:
    result = invoke("filter", "lint", '{"price": [{"numeric": [">", 3, "<", 1]}], "a": "x"}', "-o", "json")
    assert result.exit_code == ExitCode.USAGE
    doc = json.loads(result.stdout)
    assert doc["valid"] is False
    assert {p["path"] for p in doc["problems"]} == {"$.price[0].numeric", "$.a"}
    assert invoke("filter", "lint", '{"a": ["x"]}').exit_code == 0
    assert invoke("filter", "lint", "{nope").exit_code == ExitCode.USAGE


def test_lint_reads_files_and_stdin(invoke, tmp_path) -> None:
    path = tmp_path / "policy.json"
    path.write_text('{"a": {"b": ["x"]}}')
    assert invoke("filter", "lint", f"@{path}").exit_code == ExitCode.USAGE, "nesting needs body scope"
    assert invoke("filter", "lint", f"@{path}", "--scope", "body").exit_code == 0
    assert invoke("filter", "lint", "-", "--scope", "body", input='{"a": {"b": ["x"]}}').exit_code == 0


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        ('{"price": 301.5}', ExitCode.OK),
        ('{"price": {"Type": "Number", "Value": "301.50"}}', ExitCode.OK),
        ('{"price": {"DataType": "Number", "StringValue": "301.5"}}', ExitCode.OK),
        ('{"price": "301.5"}', ExitCode.FAILED),
        ('{"price": [301.5, 1]}', ExitCode.OK),
        ('{"other": 1}', ExitCode.FAILED),
        ('{"price": true}', ExitCode.USAGE),
        ("not json", ExitCode.USAGE),
    ],
)
def test_test_decides_one_message_like_grep(invoke, attributes, expected) -> None:
    result = invoke(
        "filter",
        "test",
        '{"price": [{"numeric": ["=", 301.5]}]}',
        "--message",
        "x",
        "--attributes",
        attributes,
    )
    assert result.exit_code == expected, result.stdout + result.stderr


def test_test_explains_a_no_match(invoke) -> None:
    result = invoke(
        "filter",
        "test",
        '{"kind": ["order"]}',
        "--scope",
        "body",
        "--message",
        '{"kind": "refund"}',
        "-o",
        "json",
    )
    assert result.exit_code == ExitCode.FAILED
    assert json.loads(result.stdout) == {
        "match": False,
        "reason": '$.kind: "refund" matches none of ["order"]',
    }


def test_test_refuses_an_invalid_policy(invoke) -> None:
    result = invoke("filter", "test", '{"kind": "order"}', "--message", "x")
    assert result.exit_code == ExitCode.USAGE
    assert "$.kind" in result.stderr


def _envelope(n, kind, body="{}"):
    return Envelope(
        channel="sqs:x",
        id=str(n),
        body=body.encode(),
        message_attributes={"kind": MessageAttribute("String", kind)},
    ).dumps()


def test_input_writes_matching_envelopes_unchanged(invoke, tmp_path) -> None:
    lines = [_envelope(n, kind) for n, kind in enumerate(["order", "refund", "order", "other"])]
    path = tmp_path / "captured.ndjson"
    path.write_text("\n".join(lines) + "\n")
    matched = invoke("filter", "test", '{"kind": ["order"]}', "--input", str(path))
    assert matched.exit_code == 0
    assert matched.stdout.splitlines() == [lines[0], lines[2]]
    inverted = invoke(
        "filter", "test", '{"kind": ["order"]}', "--input", "-", "--invert", input="\n".join(lines)
    )
    assert inverted.stdout.splitlines() == [lines[1], lines[3]]
    counted = invoke("filter", "test", '{"kind": ["order"]}', "--input", str(path), "--count")
    assert counted.stdout.strip() == "2"
    none = invoke("filter", "test", '{"kind": ["nothing"]}', "--input", str(path), "--count")
    assert (none.exit_code, none.stdout.strip()) == (ExitCode.FAILED, "0")


def test_input_with_a_malformed_line_exits_2_naming_it(invoke) -> None:
    result = invoke(
        "filter", "test", '{"kind": ["order"]}', "--input", "-", input=_envelope(1, "order") + "\n{broken\n"
    )
    assert result.exit_code == ExitCode.USAGE
    assert "line 2" in result.stderr


def test_attach_show_detach(invoke, aws_any, unique) -> None:
    sqs, sns = aws_any("sqs"), aws_any("sns")
    topic_arn, url, arn = queue_subscription(sqs, sns, unique)
    invalid = invoke("filter", "attach", arn, '{"kind": "order"}')
    assert invalid.exit_code == ExitCode.USAGE
    assert "FilterPolicy" not in sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"], (
        "never sent"
    )

    attached = invoke(
        "filter",
        "attach",
        "--topic",
        f"sns:{unique}",
        "--queue",
        f"sqs:{unique}",
        '{"detail": {"kind": ["order"]}}',
        "--scope",
        "body",
        "-o",
        "json",
    )
    assert attached.exit_code == 0, attached.stderr
    assert "15 minutes" in attached.stderr
    attributes = sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]
    assert json.loads(attributes["FilterPolicy"]) == {"detail": {"kind": ["order"]}}
    assert attributes["FilterPolicyScope"] == "MessageBody"
    shown = json.loads(invoke("filter", "show", arn, "-o", "json").stdout)
    assert (shown["filter_policy"], shown["filter_scope"]) == ({"detail": {"kind": ["order"]}}, "body")

    assert invoke("filter", "detach", arn).exit_code == 0
    assert json.loads(invoke("filter", "show", arn, "-o", "json").stdout)["filter_policy"] is None
    sns.publish(TopicArn=topic_arn, Message='{"detail": {"kind": "refund"}}')
    received = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5).get("Messages", [])
    assert [m["Body"] for m in received] == ['{"detail": {"kind": "refund"}}'], "no filter any more"


def test_which_says_who_receives(invoke, aws, sqs, sns, unique) -> None:
    _, _, arn = queue_subscription(sqs, sns, unique)
    invoke("filter", "attach", arn, '{"kind": ["order"]}')
    result = invoke("filter", "which", f"sns:{unique}", "--attributes", '{"kind": "refund"}', "-o", "json")
    assert result.exit_code == ExitCode.FAILED
    assert [row["receives"] for row in json.loads(result.stdout)] == [False]
    result = invoke("filter", "which", f"sns:{unique}", "--attributes", '{"kind": "order"}', "-o", "json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)[0]["receives"] is True


SELECTOR_POLICIES = [
    {"kind": ["order", "refund"]},
    {"kind": ["order"], "total": [{"numeric": [">", 100]}]},
    {"total": [{"numeric": [">=", 5, "<=", 150]}]},
    {"total": [{"numeric": ["<", 150]}, 300]},
    {"region": [{"prefix": "eu_"}]},
    {"region": [{"suffix": "_east"}]},
    {"region": [{"wildcard": "eu*west"}]},
    {"kind": [{"anything-but": ["order"]}]},
    {"kind": [{"anything-but": {"prefix": "ord"}}]},
    {"total": [{"anything-but": [150]}]},
    {"total": [{"exists": False}]},
    {"kind": [{"exists": True}], "region": ["eu_west", "us_east"]},
    {"$or": [{"kind": ["refund"]}, {"total": [{"numeric": ["<", 10]}]}]},
    {"kind": ["it's"]},
]


def test_to_selector_agrees_with_the_engine_on_activemq(invoke, amq, stomp_conn, unique) -> None:
    kinds, totals, regions = (
        ["order", "refund", "Order", "it's", None],
        ["5", "150", "300", None],
        ["eu_west", "eu-west", "us_east", None],
    )
    messages = []
    for n, (kind, total, region) in enumerate(itertools.product(kinds, totals, regions)):
        properties = {"n": str(n), "kind": kind, "total": total, "region": region}
        messages.append({k: v for k, v in properties.items() if v is not None})
    for properties in messages:
        stomp_conn.send(f"/queue/{unique}", b"x", headers={"persistent": "true", **properties})
    browsed: queue.Queue = queue.Queue()

    class Browser:
        def on_message(self, frame) -> None:
            browsed.put(frame)

    stomp_conn.set_listener("browser", Browser())
    # The sends above and the browses below share one connection, so the broker has every message first.
    for index, policy in enumerate(SELECTOR_POLICIES):
        result = invoke("filter", "to-selector", json.dumps(policy), "-o", "json")
        assert result.exit_code == 0, result.stderr
        selector = json.loads(result.stdout)["selector"]
        stomp_conn.subscribe(
            f"/queue/{unique}", id=f"b{index}", ack="auto", headers={"browser": "true", "selector": selector}
        )
        selected = set()
        while (frame := browsed.get(timeout=10)).headers.get("browser") != "end":
            selected.add(frame.headers["n"])
        stomp_conn.unsubscribe(f"b{index}")
        engine = FilterPolicy(policy)
        expected = {
            p["n"]
            for p in messages
            if engine.matches(
                Message(attributes={k: ("Number" if k == "total" else "String", v) for k, v in p.items()})
            )
        }
        assert selected == expected, f"{policy} -> {selector}"


@pytest.mark.parametrize(
    ("policy", "operator"),
    [
        ({"k": [{"equals-ignore-case": "x"}]}, "equals-ignore-case"),
        ({"k": [{"cidr": "10.0.0.0/8"}]}, "cidr"),
        ({"a": {"b": ["x"]}}, "nested"),
        ({"not-an-identifier": ["x"]}, "identifier"),
    ],
)
def test_to_selector_names_what_has_no_equivalent(invoke, policy, operator) -> None:
    result = invoke("filter", "to-selector", json.dumps(policy))
    assert result.exit_code == ExitCode.USAGE
    assert operator in result.stderr


def test_parallel_file_scan_gives_the_sequential_result(invoke, tmp_path, monkeypatch) -> None:
    from msgctl import file_ranges

    lines = [_envelope(n, ["order", "refund", "other"][n % 3]) for n in range(3000)]
    path = tmp_path / "big.ndjson"
    path.write_text("\n".join(lines) + "\n")
    monkeypatch.setattr(file_ranges, "PARALLEL_MIN_BYTES", 1)
    parallel = invoke("filter", "test", '{"kind": ["order"]}', "--input", str(path))
    sequential = invoke("filter", "test", '{"kind": ["order"]}', "--input", "-", input=path.read_text())
    assert parallel.exit_code == 0
    assert parallel.stdout == sequential.stdout
    assert parallel.stdout.splitlines() == lines[::3]

    lines[2500] = '{"body": 5}'
    path.write_text("\n".join(lines) + "\n")
    broken = invoke("filter", "test", '{"kind": ["order"]}', "--input", str(path), "--count")
    assert broken.exit_code == ExitCode.USAGE
    assert "line 2501: envelope 'body' must be a string" in broken.stderr


def test_parallel_file_scan_leaves_no_temporary_files(invoke, tmp_path, monkeypatch) -> None:
    """A bad line in this process's own range stops the scan while the workers still write their matches:
    their files go with it, as after a scan that ends well."""
    import tempfile

    from msgctl import file_ranges

    lines = [_envelope(n, "order") for n in range(3000)]
    path = tmp_path / "big.ndjson"
    spool = tmp_path / "tmp"
    spool.mkdir()
    monkeypatch.setattr(file_ranges, "PARALLEL_MIN_BYTES", 1)
    monkeypatch.setattr(tempfile, "tempdir", str(spool))
    path.write_text("\n".join(lines) + "\n")
    whole = invoke("filter", "test", '{"kind": ["order"]}', "--input", str(path))
    assert whole.stdout.splitlines() == lines
    assert list(spool.iterdir()) == []

    lines[10] = '{"body": 5}'
    path.write_text("\n".join(lines) + "\n")
    broken = invoke("filter", "test", '{"kind": ["order"]}', "--input", str(path))
    assert broken.exit_code == ExitCode.USAGE
    assert "line 11: envelope 'body' must be a string" in broken.stderr
    assert list(spool.iterdir()) == []
