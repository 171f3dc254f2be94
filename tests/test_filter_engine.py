"""The filter engine against the documented cases, and invariants that must hold for any input."""

import json

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from msgctl.filter.engine import FilterPolicy, Message
from msgctl.filter.lint import combinations, lint
from tests.filter_cases import CASES


def _message(scope, message):
    if scope == "body":
        return Message(body=message if isinstance(message, str) else json.dumps(message))
    return Message(attributes=message)


@pytest.mark.parametrize(
    ("case", "source", "policy", "scope", "message", "expected"), CASES, ids=[c[0] for c in CASES]
)
def test_documented_cases(case, source, policy, scope, message, expected) -> None:
    assert lint(policy, scope) == [], f"{case} uses a valid policy ({source})"
    decision = FilterPolicy(policy, scope).decide(_message(scope, message))
    assert decision.match is expected, f"{case} from {source}: {decision.reason}"
    assert (decision.reason is None) is expected


def test_no_match_names_the_failing_key() -> None:
    policy = FilterPolicy({"kind": ["order"], "price": [{"numeric": [">", 100]}]})
    decision = policy.decide(Message(attributes={"kind": ("String", "order"), "price": ("Number", "50")}))
    assert decision.reason == '$.price: 50.0 matches none of [{"numeric": [">", 100]}]'
    missing = policy.decide(Message(attributes={"price": ("Number", "500")}))
    assert missing.reason == '$.kind: missing matches none of ["order"]'


def test_combination_counts_follow_the_documented_algorithm() -> None:
    assert combinations({"a": ["1", "2", "3"], "b": ["1"], "c": ["1", "2"]}) == 6
    nested = {"key_a": {"key_b": {"key_c": ["1", "2", "3", "4"]}}, "key_d": {"key_e": ["1", "2", "3"]}}
    assert combinations(nested) == 72
    with_or = {
        "source": ["aws.cloudwatch"],
        "$or": [
            {"metricName": ["CPUUtilization", "ReadLatency"]},
            {
                "metricType": ["MetricType"],
                "$or": [{"metricId": [1234, 4321]}, {"spaceId": [1000, 2000, 3000]}],
            },
        ],
    }
    assert combinations(with_or) == 7
    assert (
        combinations(
            {
                "$or": [{"metricName": ["a", "b"]}, {"namespace": ["c", "d"]}],
                "detail": {"scope": ["Service"], "$or": [{"source": ["x"]}, {"type": ["y"]}]},
            }
        )
        == 32
    )


words = st.text(alphabet="abcxyz", min_size=1, max_size=4)


@given(words, words)
def test_anything_but_is_not_exact_on_present_keys(excluded, value) -> None:
    message = Message(attributes={"k": ("String", value)})
    anything_but = FilterPolicy({"k": [{"anything-but": [excluded]}]}).matches(message)
    exact = FilterPolicy({"k": [excluded]}).matches(message)
    assert anything_but is not exact


@given(st.dictionaries(st.sampled_from(["a", "b", "c"]), words, max_size=3), words, words, words)
def test_or_agrees_with_its_expansion(attributes, v1, v2, v3) -> None:
    message = Message(attributes={k: ("String", v) for k, v in attributes.items()})
    with_or = FilterPolicy({"a": [v1], "$or": [{"b": [v2]}, {"c": [v3]}]}).matches(message)
    expanded = FilterPolicy({"a": [v1], "b": [v2]}).matches(message) or FilterPolicy(
        {"a": [v1], "c": [v3]}
    ).matches(message)
    assert with_or is expanded


@given(st.lists(words, min_size=1, max_size=4), st.lists(words, min_size=1, max_size=3))
def test_string_array_matches_when_any_element_does(elements, wanted) -> None:
    as_array = FilterPolicy({"k": wanted}).matches(
        Message(attributes={"k": ("String.Array", json.dumps(elements))})
    )
    one_by_one = any(
        FilterPolicy({"k": wanted}).matches(Message(attributes={"k": ("String", e)})) for e in elements
    )
    assert as_array is one_by_one


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=5) | st.sampled_from(["", "x", "yes"]),
        lambda children: (
            st.lists(children, max_size=3)
            | st.dictionaries(st.sampled_from(["a", "b"]) | st.text(max_size=3), children, max_size=3)
        ),
        max_leaves=10,
    )
)
@example({"a": {"b": ""}})  # empty: absent for exists
@example({"a": {"b": {"c": "x"}}})  # an object is no leaf value
@example({"a": {"b": [None, "yes"]}})
@example({"a": {"b": 1.000001}})  # 1.0 at five decimals: not above 1
@example({"a": {"b": True}})
@example([{"a": {"b": "x"}}])  # not an object
def test_any_body_is_decided_as_documented(document) -> None:
    policy = FilterPolicy(
        {"a": {"b": ["x", {"prefix": "y"}, {"numeric": [">", 1]}, {"exists": False}]}}, "body"
    )
    values = _leaves(document, ("a", "b")) if isinstance(document, dict) else None  # not an object: no match
    expected = values is not None and (
        any(isinstance(v, str) and (v == "x" or v.startswith("y")) for v in values)
        or any(_number_above(v, 1) for v in values)
        or not any(v is not None and v != "" for v in values)  # exists: false, no non-null non-empty value
    )
    assert policy.decide(Message(body=json.dumps(document))).match is expected


def _leaves(node, path):
    """What a body policy compares at ``path``, read as the SNS documentation describes it: arrays match
    element by element at any depth, and objects are no leaf values (``exists`` looks at leaves only)."""
    if isinstance(node, list):
        return [leaf for item in node for leaf in _leaves(item, path)]
    if not path:
        return [] if isinstance(node, dict) else [node]
    if isinstance(node, dict) and path[0] in node:
        return _leaves(node[path[0]], path[1:])
    return []


def _number_above(value, bound) -> bool:
    """``numeric [">", bound]``: JSON numbers only (true and false are not numbers), compared with five digits
    of accuracy after the decimal point; an integer beyond any float is not compared at all."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return round(float(value), 5) > bound
    except OverflowError:
        return False


envelope_values = st.one_of(
    st.tuples(st.just("String"), words | st.integers(-5, 5)),
    st.tuples(st.just("Number"), st.integers(-5, 5).map(str) | st.integers(-5, 5) | st.just("1_0")),
    st.tuples(st.just("String.Array"), st.lists(words | st.integers(-5, 5) | st.none(), max_size=3)),
    st.tuples(st.just("Binary"), st.just("AAE=")),
)
bodies = st.fixed_dictionaries({"a": words | st.integers(-5, 5), "b": st.lists(words, max_size=2)}).map(
    json.dumps
)


@given(
    st.dictionaries(st.sampled_from(["a", "b", "c"]), envelope_values, max_size=3),
    bodies,
    st.booleans(),
)
def test_envelopes_are_decided_like_the_envelope_reader_decides(attributes, body, base64_body) -> None:
    """`filter test --input` reads envelopes through its own fast path; it must agree with reading the
    envelope with the envelope reader and asking the engine."""
    import base64

    from msgctl.envelope import Envelope
    from msgctl.filter.messages import message_from_envelope

    raw = {
        "channel": "sqs:x",
        "id": "1",
        "body": base64.b64encode(body.encode()).decode() if base64_body else body,
        "body_encoding": "base64" if base64_body else "text",
        "message_attributes": {k: {"type": t, "value": v} for k, (t, v) in attributes.items()},
    }
    message = message_from_envelope(Envelope.from_json(raw))
    policies = [
        ({"a": ["x", {"prefix": "y"}, 3], "b": [{"numeric": [">", 0]}]}, "attributes"),
        ({"a": [{"anything-but": ["x"]}], "c": [{"exists": False}]}, "attributes"),
        ({"$or": [{"a": [3, "z"]}, {"b": [{"exists": True}]}]}, "attributes"),
        ({"a": ["x", 3], "b": [{"prefix": "y"}]}, "body"),
    ]
    for policy, scope in policies:
        compiled = FilterPolicy(policy, scope)
        assert compiled.matches_envelope(raw) is compiled.matches(message), (policy, scope)


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
        lambda children: (
            st.lists(children, max_size=3)
            | st.dictionaries(st.sampled_from(["a", "b", "c"]), children, max_size=3)
        ),
        max_leaves=10,
    )
)
@example([None, "z"])
@example([1.000001, True, "y"])
@example(10**400)
def test_bodies_with_any_values_are_decided_like_their_string_array_twin(document) -> None:
    """Huge integers, NaN and infinities in a body decide without error, the same way in both scopes."""
    body = FilterPolicy({"a": [{"numeric": [">", 1]}, "x", None]}, "body")
    verdict = body.matches(Message(body=json.dumps({"a": document})))
    values = _leaves({"a": document}, ("a",))
    assert verdict is any(_number_above(v, 1) or v == "x" or v is None for v in values)
    if isinstance(document, list) and all(not isinstance(v, list | dict) for v in document):
        attributes = FilterPolicy({"a": [{"numeric": [">", 1]}, "x", None]})
        array = Message(attributes={"a": ("String.Array", json.dumps(document))})
        assert attributes.matches(array) is verdict
