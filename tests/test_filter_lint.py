"""lint rejects each AWS constraint violation with its JSON path and one line of reason."""

import json

import pytest

from msgctl.filter.lint import decode_policy, lint


@pytest.mark.parametrize(
    ("policy", "scope", "path", "reason"),
    [
        ({"a": "x"}, "attributes", "$.a", "must be an array"),
        ({"a": []}, "attributes", "$.a", "empty arrays"),
        ({"a": [["x"]]}, "attributes", "$.a[0]", "a condition is"),
        ({"a": [{"wrong-operator": True}]}, "attributes", "$.a[0].wrong-operator", "unknown operator"),
        ({"a": [{"suffix": "x", "prefix": "y"}]}, "attributes", "$.a[0]", "exactly one key"),
        ({"a": [{"suffix": 100}]}, "attributes", "$.a[0].suffix", "takes a string"),
        ({"a": [{"exists": "no"}]}, "attributes", "$.a[0].exists", "true or false"),
        ({"a": [{"cidr": "bad-filter"}]}, "attributes", "$.a[0].cidr", "one '/' required"),
        ({"a": [{"cidr": "xx.11.xx/8"}]}, "attributes", "$.a[0].cidr", "malformed CIDR"),
        ({"price": [{"numeric": [">", "20"]}]}, "attributes", "$.price[0].numeric[1]", "JSON numbers"),
        ({"price": [{"numeric": ["<", 100, ">", 10]}]}, "attributes", "$.price[0].numeric", "a range is"),
        ({"price": [{"numeric": [">", 3, "<", 1]}]}, "attributes", "$.price[0].numeric", "lower bound"),
        ({"price": [{"numeric": [">", 20, "<", 30, "<", 50]}]}, "attributes", "$.price[0].numeric", "takes"),
        (
            {"price": [{"numeric": ["~", 1]}]},
            "attributes",
            "$.price[0].numeric[0]",
            "unknown numeric operator",
        ),
        ({"price": [{"numeric": [">", 2e9]}]}, "attributes", "$.price[0].numeric[1]", "outside -1e9..1e9"),
        (
            {"price": [{"numeric": ["=", 1.123456]}]},
            "attributes",
            "$.price[0].numeric[1]",
            "more than 5 decimals",
        ),
        ({"price": [1e10]}, "attributes", "$.price[0]", "outside"),
        (
            {"a": [{"anything-but": {"exists": False}}]},
            "attributes",
            "$.a[0].anything-but",
            "anything-but takes",
        ),
        ({"a": [{"anything-but": {"prefix": False}}]}, "attributes", "$.a[0].anything-but.prefix", "string"),
        ({"a": [{"anything-but": []}]}, "attributes", "$.a[0].anything-but", "at least one"),
        ({"a": [{"anything-but": [None]}]}, "attributes", "$.a[0].anything-but[0]", "strings or numbers"),
        ({"a": {"b": ["x"]}}, "attributes", "$.a", "need body scope"),
        ({"a": {}}, "body", "$.a", "empty objects"),
        ({"$or": [{"a": ["x"]}]}, "attributes", "$.$or", "at least two"),
        ({"a": [{"wildcard": "*a*b*c*"}]}, "attributes", "$.a[0].wildcard", "at most 3 wildcards"),
        ({f"k{n}": ["x"] for n in range(6)}, "attributes", "$", "6 keys"),
        (
            {"a": {"b": ["x"], "c": ["x"], "d": ["x"]}, "e": {"f": ["x"], "g": ["x"], "h": ["x"]}},
            "body",
            "$",
            "6 leaf keys",
        ),
        ({"key": [f"v{n}" for n in range(151)]}, "attributes", "$", "151 value combinations"),
    ],
)
def test_each_violation_is_reported_with_its_path(policy, scope, path, reason) -> None:
    problems = lint(policy, scope)
    assert problems, f"{policy} should be invalid"
    assert any(p.path == path and reason in p.reason for p in problems), problems


@pytest.mark.parametrize(
    "policy",
    [
        {},
        {"key": [f"v{n}" for n in range(150)]},
        {
            "source": ["a", "b", "c"],
            "$or": [
                {"metricName": [str(n) for n in range(6)]},
                {
                    "metricType": ["1", "2", "3", "4"],
                    "$or": [{"metricId": [1, 2, 3, 4]}, {"spaceId": [1, 2, 3, 4, 5, 6, 7]}],
                },
            ],
        },
        {"price": [{"numeric": [">=", -1e9, "<=", 1e9]}, 0.00001]},
        {"a": [{"anything-but": {"prefix": "x"}}, {"anything-but": [1, 2]}, {"anything-but": "y"}]},
        {"ip": [{"cidr": "2001:db8::/32"}]},
        {"$or": [{"numeric": ["=", 1]}, {"prefix": "abc"}]},  # operator names: "$or" is an ordinary key
    ],
)
def test_valid_policies_pass(policy) -> None:
    assert lint(policy, "attributes") == []


def test_body_scope_counts_leaf_keys_and_allows_nesting() -> None:
    policy = {"a": {"b": {"c": ["x"]}}, "d": ["y"], "e": {"f": [{"exists": True}]}}
    assert lint(policy, "body") == []


def test_parse_reports_json_errors_and_size() -> None:
    policy, problems = decode_policy("{not json")
    assert policy is None and problems[0].reason.startswith("not JSON")
    _, problems = decode_policy(json.dumps({"a": ["x" * 300_000]}))
    assert problems and "256 KB" in problems[0].reason
    policy, problems = decode_policy("[1]")
    assert policy is None and "JSON object" in problems[0].reason


def test_combinations_are_counted_without_expanding_every_or() -> None:
    from msgctl.filter.lint import combinations

    policy = {f"k{i}": {"$or": [{"a": ["x"]}, {"b": ["y"]}]} for i in range(20)}
    assert combinations(policy) == (2 * 2) ** 20  # per key: two one-value branches, each at level 2
    assert any(p.reason.endswith("at most 150") for p in lint(policy, "body"))
