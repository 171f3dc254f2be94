"""Client.filters from Python: lint, decide, test and to_selector offline; attach, show, detach and which
on the moto server."""

import json

import pytest

from msgctl import Client, Envelope, MsgctlError
from msgctl.api.filters import Recipient, SubscriptionFilter
from msgctl.backends.registry import register_backend
from msgctl.envelope import MessageAttribute
from msgctl.errors import ExitCode
from msgctl.filter.engine import Problem
from msgctl.filter.lint import InvalidPolicy
from msgctl.filter.selector import NoSelectorEquivalent
from tests.helpers import queue_subscription


@pytest.fixture
def filters():
    with Client() as client:
        yield client.filters


def _envelope(number: int, kind: str) -> Envelope:
    attributes = {"kind": MessageAttribute("String", kind), "n": MessageAttribute("Number", str(number))}
    return Envelope("sqs:orders", f"m{number}", json.dumps({"n": number}).encode(), {}, attributes)


ENVELOPES = [_envelope(n, kind) for n, kind in enumerate(["order", "refund", "order", "quote"])]


def test_lint_takes_a_dict_or_json_text_and_names_every_problem(filters) -> None:
    policy = {"price": [{"numeric": [">", 3, "<", 1]}], "a": "x"}
    problems = filters.lint(policy)
    assert {p.path for p in problems} == {"$.price[0].numeric", "$.a"}
    assert filters.lint(json.dumps(policy)) == problems
    assert filters.lint({"a": {"b": ["x"]}}) == [
        Problem("$.a", "nested policies need body scope (--scope body)")
    ]
    assert filters.lint({"a": {"b": ["x"]}}, scope="body") == []
    assert filters.lint("{nope")[0].reason.startswith("not JSON")
    assert filters.lint({"n": [float("nan")]}) == [Problem("$", "not JSON: NaN is not a JSON number")]


def test_test_selects_envelopes_from_an_iterable(filters) -> None:
    result = filters.test({"kind": ["order"]}, ENVELOPES)
    assert result.matched == 2
    assert result.matches == [ENVELOPES[0], ENVELOPES[2]]
    inverted = filters.test('{"kind": ["order"]}', iter(ENVELOPES), invert=True)
    assert inverted.matches == [ENVELOPES[1], ENVELOPES[3]]
    numbers = filters.test({"n": [{"numeric": [">=", 2]}]}, (e.to_json() for e in ENVELOPES))
    assert numbers.matches == [ENVELOPES[2].to_json(), ENVELOPES[3].to_json()]
    body = filters.test({"n": [1, 3]}, ENVELOPES, scope="body")
    assert [e.id for e in body.matches] == ["m1", "m3"]


def test_test_reads_ndjson_text_a_file_and_lines_alike(filters, tmp_path) -> None:
    lines = [json.dumps(e.to_json()) for e in ENVELOPES]
    path = tmp_path / "export.ndjson"
    path.write_text("\n".join(lines) + "\n")
    expected = [lines[1]]
    for source in ("\n".join(lines), path, str(path), [line + "\n" for line in lines]):
        result = filters.test({"kind": ["refund"]}, source)
        assert (result.matched, result.matches) == (1, expected), source
    assert filters.test({"kind": ["refund"]}, "").matched == 0


def test_on_match_sees_each_match_as_it_is_found(filters) -> None:
    seen = []
    result = filters.test({"kind": ["order"]}, ENVELOPES, keep_matches=False, on_match=seen.append)
    assert (result.matched, result.matches, seen) == (2, [], [ENVELOPES[0], ENVELOPES[2]])


def test_test_names_the_malformed_envelope(filters, tmp_path) -> None:
    with pytest.raises(MsgctlError) as raised:
        filters.test({"kind": ["order"]}, [ENVELOPES[0].to_json(), {"body": 5}])
    assert raised.value.exit_code == ExitCode.USAGE
    assert raised.value.message == "envelope 2: envelope 'body' must be a string"
    with pytest.raises(MsgctlError, match=r"^envelope 2: expected an Envelope, .* not int$"):
        filters.test({"kind": ["order"]}, [ENVELOPES[0], 5])
    with pytest.raises(MsgctlError, match="line 2: "):
        filters.test({"kind": ["order"]}, json.dumps(ENVELOPES[0].to_json()) + "\n{broken\n")
    with pytest.raises(MsgctlError, match="cannot read"):
        filters.test({"kind": ["order"]}, tmp_path / "missing.ndjson")
    with pytest.raises(InvalidPolicy):
        filters.test({"kind": "order"}, ENVELOPES)


def test_decide_explains_a_no_match(filters) -> None:
    policy = {"price": [{"numeric": ["=", 301.5]}]}
    assert filters.decide(policy, attributes={"price": 301.5}).match is True
    assert filters.decide(policy, attributes='{"price": {"Type": "Number", "Value": "301.50"}}').match is True
    decision = filters.decide(policy, attributes={"price": "301.5"})
    assert decision.match is False
    assert decision.reason.startswith("$.price: ")
    assert filters.decide({"kind": ["x"]}, body='{"kind": "x"}', scope="body").match is True


def test_to_selector_translates_or_names_what_has_no_equivalent(filters) -> None:
    policy = {"kind": ["order"], "total": [{"numeric": [">", 100]}]}
    assert filters.to_selector(policy) == "kind = 'order' AND total > 100"
    assert filters.to_selector(json.dumps(policy)) == filters.to_selector(policy)
    with pytest.raises(NoSelectorEquivalent, match="cidr"):
        filters.to_selector({"ip": [{"cidr": "10.0.0.0/8"}]})
    with pytest.raises(InvalidPolicy) as raised:
        filters.to_selector({"a": {"b": ["x"]}})  # nesting is body scope: no attribute policy at all
    assert raised.value.exit_code == ExitCode.USAGE


def test_attach_show_detach_which(aws, sqs, sns, unique) -> None:
    topic_arn, url, arn = queue_subscription(sqs, sns, unique)
    with Client(endpoint_url=aws) as client:
        with pytest.raises(InvalidPolicy):
            client.filters.attach(arn, {"kind": "order"})
        assert "FilterPolicy" not in sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]

        attached = client.filters.attach((f"sns:{unique}", f"sqs:{unique}"), '{"kind": ["order"]}')
        assert attached == SubscriptionFilter(arn, {"kind": ["order"]}, "attributes")
        attributes = sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]
        assert json.loads(attributes["FilterPolicy"]) == {"kind": ["order"]}
        assert client.filters.show(arn) == attached

        refund = client.filters.which(f"sns:{unique}", attributes={"kind": "refund"})
        assert [(r.receives, r.endpoint) for r in refund] == [(False, f"sqs:{unique}")]
        assert client.filters.which(f"sns:{unique}", attributes={"kind": "order"}) == [
            Recipient(f"sqs:{unique}", "sqs", True, "matches")
        ]

        body = client.filters.attach(arn, {"detail": {"kind": ["order"]}}, scope="body")
        assert (
            client.filters.show(arn)
            == body
            == SubscriptionFilter(arn, {"detail": {"kind": ["order"]}}, "body")
        )

        assert client.filters.detach(arn) == SubscriptionFilter(arn, None, None)
        assert client.filters.show(arn).policy is None
        sns.publish(TopicArn=topic_arn, Message="anything")
        received = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5).get("Messages", [])
        assert [m["Body"] for m in received] == ["anything"], "no filter any more"

        with pytest.raises(MsgctlError, match="is not an SNS topic"):
            client.filters.show((f"sqs:{unique}", f"sqs:{unique}"))


class _TopiclessBackend:
    """A broker registered for sns: channels that has no subscription filter policies."""

    service = "sns"

    def close(self) -> None:
        pass


def test_a_backend_without_subscription_policies_is_one_clear_error() -> None:
    undo = register_backend("sns", lambda backends, profile: _TopiclessBackend())
    try:
        with Client() as client, pytest.raises(MsgctlError) as raised:
            client.filters.show("arn:aws:sns:us-east-1:123456789012:t:sub")
    finally:
        undo()
    assert raised.value.message == "sns: subscription filter policies are not supported by this backend"
    assert raised.value.exit_code == ExitCode.USAGE
