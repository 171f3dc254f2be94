"""Filter-policy cases from the AWS SNS documentation (each names its page), observed AWS behaviour, and
inputs where emulators are known to disagree with the docs.

A case is (id, source, policy, scope, message, expected). In attribute scope the message is
{name: (type, value)}; in body scope it is the body (a JSON-able value, or a raw string).
"""

DOCS = "https://docs.aws.amazon.com/sns/latest/dg/"
STR, NUM, KEY, ANDOR, EX = (
    DOCS + p
    for p in (
        "string-value-matching.html",
        "numeric-value-matching.html",
        "attribute-key-matching.html",
        "and-or-logic.html",
        "example-filter-policies.html",
    )
)
OBSERVED = "AWS responses recorded by LocalStack's SNS filter-policy tests"
EMULATORS = "moto's matcher differs here (see the issue): cidr, prefix inside String.Array"

S, SA, N = "String", "String.Array", "Number"
ANYTHING_BUT = {"customer_interests": [{"anything-but": ["rugby", "tennis"]}]}
ANYTHING_BUT_PREFIX = {"event": [{"anything-but": {"prefix": "order-"}}]}
ANYTHING_BUT_NUMBERS = {"price": [{"anything-but": [100, 500]}]}
IGNORE_CASE = {"customer_interests": [{"equals-ignore-case": "tennis"}]}
PREFIX = {"customer_interests": [{"prefix": "bas"}]}
SUFFIX = {"customer_interests": [{"suffix": "ball"}]}
CIDR = {"source_ip": [{"cidr": "10.0.0.0/24"}]}
EQUAL_NUMBER = {"price_usd": [{"numeric": ["=", 301.5]}]}
EXISTS = {"store": [{"exists": True}]}
NOT_EXISTS = {"store": [{"exists": False}]}
OR = {"source": ["aws.cloudwatch"], "$or": [{"metricName": ["CPUUtilization"]}, {"namespace": ["AWS/EC2"]}]}
ACCEPT = {
    "store": ["example_corp"],
    "event": [{"anything-but": "order_cancelled"}],
    "customer_interests": ["rugby", "football", "baseball"],
    "price_usd": [{"numeric": [">=", 100]}],
}
REJECT = {
    "store": ["example_corp"],
    "event": ["order_cancelled"],
    "encrypted": [False],
    "customer_interests": ["basketball", "baseball"],
}
EXAMPLE_ATTRIBUTES = {
    "customer_interests": (SA, '["soccer", "rugby", "hockey"]'),
    "store": (S, "example_corp"),
    "event": (S, "order_placed"),
    "price_usd": (N, "210.75"),
}
EXAMPLE_BODY = {
    "customer_interests": ["soccer", "rugby", "hockey"],
    "store": "example_corp",
    "event": "order_placed",
    "price_usd": 210.75,
}
NESTED_OR = {
    "$or": [{"metricName": ["CPUUtilization", "ReadLatency"]}, {"namespace": ["AWS/EC2", "AWS/ES"]}],
    "detail": {
        "scope": ["Service"],
        "$or": [{"source": ["aws.cloudwatch"]}, {"type": ["CloudWatch Alarm State Change"]}],
    },
}
BODY_OBJECT = {
    "object": {"key": [{"prefix": "auto-"}, "hardcodedvalue"], "nested_key": [{"exists": False}]},
    "test": [{"exists": False}],
}
S3 = {
    "Records": {"s3": {"object": {"key": [{"prefix": "auto-"}]}}, "eventName": [{"prefix": "ObjectCreated:"}]}
}


def _record(event, key):
    return {"eventSource": "aws:s3", "eventName": event, "s3": {"object": {"key": key, "size": 17}}}


CASES = [
    # anything-but (string list, prefix, numbers)
    ("T-AB-1", STR, ANYTHING_BUT, "attributes", {"customer_interests": (S, "baseball")}, True),
    ("T-AB-2", STR, ANYTHING_BUT, "attributes", {"customer_interests": (S, "football")}, True),
    ("T-AB-3", STR, ANYTHING_BUT, "attributes", {"customer_interests": (SA, '["rugby", "baseball"]')}, True),
    ("T-AB-4", STR, ANYTHING_BUT, "body", {"customer_interests": "baseball"}, True),
    ("T-AB-5", STR, ANYTHING_BUT, "body", {"customer_interests": "football"}, True),
    ("T-AB-6", STR, ANYTHING_BUT, "body", {"customer_interests": ["rugby", "baseball"]}, True),
    ("T-AB-7", STR, ANYTHING_BUT, "attributes", {"customer_interests": (S, "rugby")}, False),
    ("T-AB-8", STR, ANYTHING_BUT, "attributes", {"customer_interests": (SA, '["rugby"]')}, False),
    ("T-AB-9", STR, ANYTHING_BUT, "body", {"customer_interests": ["rugby"]}, False),
    ("T-AB-absent", OBSERVED, ANYTHING_BUT, "attributes", {"other": (S, "x")}, False),
    ("T-ABP-1", STR, ANYTHING_BUT_PREFIX, "attributes", {"event": (S, "data-entry")}, True),
    ("T-ABP-2", STR, ANYTHING_BUT_PREFIX, "attributes", {"event": (S, "order_number")}, True),
    ("T-ABP-3", STR, ANYTHING_BUT_PREFIX, "body", {"event": "data-entry"}, True),
    ("T-ABP-4", STR, ANYTHING_BUT_PREFIX, "body", {"event": "order_number"}, True),
    ("T-ABP-5", STR, ANYTHING_BUT_PREFIX, "attributes", {"event": (S, "order-cancelled")}, False),
    ("T-ABP-6", STR, ANYTHING_BUT_PREFIX, "body", {"event": "order-cancelled"}, False),
    (
        "T-ABW-1",
        STR,
        {"customer_interests": [{"anything-but": {"wildcard": "*ball"}}]},
        "body",
        {"customer_interests": ["hockey", "rugby", "soccer"]},
        True,
    ),
    (
        "T-ABW-2",
        STR,
        {"customer_interests": [{"anything-but": {"wildcard": "*ball"}}]},
        "body",
        {"customer_interests": ["baseball", "basketball"]},
        False,
    ),
    (
        "T-ABS-1",
        STR,
        {"customer_interests": [{"anything-but": {"suffix": "ball"}}]},
        "body",
        {"customer_interests": ["hockey", "rugby", "soccer"]},
        True,
    ),
    (
        "T-ABS-2",
        STR,
        {"customer_interests": [{"anything-but": {"suffix": "ball"}}]},
        "body",
        {"customer_interests": ["baseball", "basketball"]},
        False,
    ),
    ("T-ABN-1", NUM, ANYTHING_BUT_NUMBERS, "attributes", {"price": (N, "101")}, True),
    ("T-ABN-2", NUM, ANYTHING_BUT_NUMBERS, "attributes", {"price": (N, "100.1")}, True),
    ("T-ABN-3", NUM, ANYTHING_BUT_NUMBERS, "body", {"price": 101}, True),
    ("T-ABN-4", NUM, ANYTHING_BUT_NUMBERS, "body", {"price": 100.1}, True),
    ("T-ABN-5", NUM, ANYTHING_BUT_NUMBERS, "attributes", {"price": (SA, "[100, 50]")}, True),
    ("T-ABN-6", NUM, ANYTHING_BUT_NUMBERS, "body", {"price": [100, 50]}, True),
    ("T-ABN-7", NUM, ANYTHING_BUT_NUMBERS, "attributes", {"price": (N, "100")}, False),
    ("T-ABN-8", NUM, ANYTHING_BUT_NUMBERS, "body", {"price": 100}, False),
    # equals-ignore-case, prefix, suffix, cidr
    ("T-EIC-1", STR, IGNORE_CASE, "attributes", {"customer_interests": (S, "TENNIS")}, True),
    ("T-EIC-2", STR, IGNORE_CASE, "attributes", {"customer_interests": (S, "Tennis")}, True),
    ("T-EIC-3", STR, IGNORE_CASE, "body", {"customer_interests": "TENNIS"}, True),
    ("T-EIC-4", STR, IGNORE_CASE, "body", {"customer_interests": "teNnis"}, True),
    ("T-EIC-neg", STR, IGNORE_CASE, "attributes", {"customer_interests": (S, "tennis ball")}, False),
    ("T-PFX-1", STR, PREFIX, "attributes", {"customer_interests": (S, "baseball")}, True),
    ("T-PFX-2", STR, PREFIX, "attributes", {"customer_interests": (S, "basketball")}, True),
    ("T-PFX-3", STR, PREFIX, "body", {"customer_interests": "baseball"}, True),
    ("T-PFX-4", STR, PREFIX, "body", {"customer_interests": "basketball"}, True),
    ("T-PFX-5", STR, PREFIX, "attributes", {"customer_interests": (S, "rugby")}, False),
    ("T-PFX-6", STR, PREFIX, "body", {"customer_interests": "rugby"}, False),
    (
        "T-PFX-array",
        EMULATORS,
        PREFIX,
        "attributes",
        {"customer_interests": (SA, '["rugby", "basketball"]')},
        True,
    ),
    ("T-SFX-1", STR, SUFFIX, "attributes", {"customer_interests": (S, "baseball")}, True),
    ("T-SFX-2", STR, SUFFIX, "attributes", {"customer_interests": (S, "basketball")}, True),
    ("T-SFX-3", STR, SUFFIX, "body", {"customer_interests": "baseball"}, True),
    ("T-SFX-4", STR, SUFFIX, "body", {"customer_interests": "basketball"}, True),
    ("T-SFX-5", STR, SUFFIX, "attributes", {"customer_interests": (S, "rugby")}, False),
    ("T-SFX-6", STR, SUFFIX, "body", {"customer_interests": "rugby"}, False),
    ("T-CIDR-1", STR, CIDR, "attributes", {"source_ip": (S, "10.0.0.0")}, True),
    ("T-CIDR-2", STR, CIDR, "attributes", {"source_ip": (S, "10.0.0.255")}, True),
    ("T-CIDR-3", STR, CIDR, "body", {"source_ip": "10.0.0.0"}, True),
    ("T-CIDR-4", STR, CIDR, "body", {"source_ip": "10.0.0.255"}, True),
    ("T-CIDR-5", STR, CIDR, "attributes", {"source_ip": (S, "10.1.1.0")}, False),
    ("T-CIDR-6", STR, CIDR, "body", {"source_ip": "10.1.1.0"}, False),
    ("T-CIDR-bad-ip", OBSERVED, CIDR, "body", {"source_ip": "10.0.0.256"}, False),
    (
        "T-CIDR-v6",
        OBSERVED,
        {"ip": [{"cidr": "2001:db8:1234:1a00::/64"}]},
        "body",
        {"ip": "2001:0db8:1234:1a00:0000:0000:0000:0000"},
        True,
    ),
    (
        "T-CIDR-v6-out",
        OBSERVED,
        {"ip": [{"cidr": "2001:db8:1234:1a00::/64"}]},
        "body",
        {"ip": "2001:0db8:123f:1a01:0000:0000:0000:0000"},
        False,
    ),
    ("T-CIDR-array", EMULATORS, CIDR, "attributes", {"source_ip": (SA, '["192.168.0.1", "10.0.0.7"]')}, True),
    (
        "T-WC-1",
        STR,
        {"customer_interests": [{"wildcard": "*ball"}]},
        "body",
        {"customer_interests": ["baseball", "basketball"]},
        True,
    ),
    # numeric
    ("T-NUM-1", NUM, EQUAL_NUMBER, "attributes", {"price_usd": (N, "301.5")}, True),
    ("T-NUM-2", NUM, EQUAL_NUMBER, "attributes", {"price_usd": (N, "3.015e2")}, True),
    ("T-NUM-3", NUM, EQUAL_NUMBER, "body", {"price_usd": 301.5}, True),
    ("T-NUM-4", NUM, EQUAL_NUMBER, "body", '{"price_usd": 3.015e2}', True),
    ("T-NUM-5", NUM, EQUAL_NUMBER, "attributes", {"price_usd": (N, "301.500")}, True),
    ("T-NUMR-1", NUM, {"p": [{"numeric": [">", 0, "<=", 150]}]}, "attributes", {"p": (N, "150")}, True),
    ("T-NUMR-2", NUM, {"p": [{"numeric": [">", 0, "<=", 150]}]}, "attributes", {"p": (N, "0")}, False),
    ("T-NUMR-3", NUM, {"p": [{"numeric": ["<", 0]}]}, "attributes", {"p": (N, "-0.5")}, True),
    (
        "T-NUMO-1",
        OBSERVED,
        {"attr1": [{"numeric": [">", 0, "<=", 100]}]},
        "attributes",
        {"attr1": (N, "99")},
        True,
    ),
    (
        "T-NUMO-2",
        OBSERVED,
        {"attr1": [{"numeric": [">", 0, "<=", 100]}]},
        "attributes",
        {"attr1": (N, "111")},
        False,
    ),
    ("T-NUM-string", EMULATORS, {"p": [100]}, "attributes", {"p": (S, "100")}, False),
    ("T-NUM-5dp", NUM, {"p": [{"numeric": ["=", 1.00001]}]}, "attributes", {"p": (N, "1.000009")}, True),
    # exists
    (
        "T-EXT-1",
        KEY,
        EXISTS,
        "attributes",
        {"store": (S, "fans"), "customer_interests": (SA, '["baseball", "basketball"]')},
        True,
    ),
    (
        "T-EXT-2",
        KEY,
        EXISTS,
        "body",
        {"store": "fans", "customer_interests": ["baseball", "basketball"]},
        True,
    ),
    ("T-EXT-3", KEY, EXISTS, "attributes", {"customer_interests": (SA, '["baseball", "basketball"]')}, False),
    ("T-EXT-4", KEY, EXISTS, "body", {"customer_interests": ["baseball", "basketball"]}, False),
    (
        "T-EXF-1",
        KEY,
        NOT_EXISTS,
        "attributes",
        {"store": (S, "fans"), "customer_interests": (SA, '["baseball", "basketball"]')},
        False,
    ),
    (
        "T-EXF-2",
        KEY,
        NOT_EXISTS,
        "body",
        {"store": "fans", "customer_interests": ["baseball", "basketball"]},
        False,
    ),
    (
        "T-EXF-3",
        KEY,
        NOT_EXISTS,
        "attributes",
        {"customer_interests": (SA, '["baseball", "basketball"]')},
        True,
    ),
    ("T-EXF-4", KEY, NOT_EXISTS, "body", {"customer_interests": ["baseball", "basketball"]}, True),
    ("T-EXF-5", KEY, NOT_EXISTS, "attributes", {}, False),
    ("T-EXO-1", OBSERVED, EXISTS, "attributes", {"store": (N, "99"), "def": (N, "99")}, True),
    ("T-EXO-2", OBSERVED, EXISTS, "attributes", {"attr1": (N, "111")}, False),
    ("T-EXO-3", OBSERVED, NOT_EXISTS, "attributes", {"def": (N, "99")}, True),
    ("T-EXO-4", OBSERVED, NOT_EXISTS, "attributes", {"store": (N, "99"), "def": (N, "99")}, False),
    ("T-NULL-1", OBSERVED, {"attr1": [None, {"anything-but": "whatever"}]}, "attributes", {}, False),
    # AND / OR / $or
    (
        "T-OR-1",
        ANDOR,
        OR,
        "attributes",
        {"source": (S, "aws.cloudwatch"), "metricName": (S, "CPUUtilization")},
        True,
    ),
    ("T-OR-2", ANDOR, OR, "attributes", {"source": (S, "aws.cloudwatch"), "namespace": (S, "AWS/EC2")}, True),
    ("T-OR-3", ANDOR, OR, "body", {"source": "aws.cloudwatch", "metricName": "CPUUtilization"}, True),
    ("T-OR-4", ANDOR, OR, "body", {"source": "aws.cloudwatch", "namespace": "AWS/EC2"}, True),
    (
        "T-OR-neither",
        ANDOR,
        OR,
        "attributes",
        {"source": (S, "aws.cloudwatch"), "namespace": (S, "AWS/S3")},
        False,
    ),
    (
        "T-OR-and",
        ANDOR,
        OR,
        "attributes",
        {"source": (S, "aws.ec2"), "metricName": (S, "CPUUtilization")},
        False,
    ),
    (
        "T-ORB-1",
        OBSERVED,
        NESTED_OR,
        "body",
        {
            "metricName": "CPUUtilization",
            "detail": {"scope": "aws.cloudwatch", "type": "CloudWatch Alarm State Change"},
        },
        False,
    ),
    (
        "T-ORB-2",
        OBSERVED,
        NESTED_OR,
        "body",
        {"metricName": "CPUUtilization", "detail": {"scope": "Service", "type": "CPUUtilization"}},
        False,
    ),
    (
        "T-ORB-3",
        OBSERVED,
        NESTED_OR,
        "body",
        {"metricName": "CPUUtilization", "detail": {"type": "CloudWatch Alarm State Change"}},
        False,
    ),
    (
        "T-ORB-4",
        OBSERVED,
        NESTED_OR,
        "body",
        {"metricName": "CPUUtilization", "detail": {"scope": "Service"}},
        False,
    ),
    ("T-ORB-5", OBSERVED, NESTED_OR, "body", {"metricName": "CPUUtilization", "scope": "Service"}, False),
    (
        "T-ORB-6",
        OBSERVED,
        NESTED_OR,
        "body",
        {"metricName": "AWS/EC2", "detail": {"scope": "Service", "type": "CloudWatch Alarm State Change"}},
        False,
    ),
    (
        "T-ORB-7",
        OBSERVED,
        NESTED_OR,
        "body",
        {
            "namespace": "CPUUtilization",
            "detail": {"scope": "Service", "type": "CloudWatch Alarm State Change"},
        },
        False,
    ),
    (
        "T-ORB-8",
        OBSERVED,
        NESTED_OR,
        "body",
        {"metricName": "CPUUtilization", "detail": {"scope": "Service", "source": "aws.cloudwatch"}},
        True,
    ),
    (
        "T-ORB-9",
        OBSERVED,
        NESTED_OR,
        "body",
        {"metricName": "ReadLatency", "detail": {"scope": "Service", "source": "aws.cloudwatch"}},
        True,
    ),
    (
        "T-ORB-10",
        OBSERVED,
        NESTED_OR,
        "body",
        {"namespace": "AWS/EC2", "detail": {"scope": "Service", "source": "aws.cloudwatch"}},
        True,
    ),
    (
        "T-ORB-11",
        OBSERVED,
        NESTED_OR,
        "body",
        {"namespace": "AWS/ES", "detail": {"scope": "Service", "source": "aws.cloudwatch"}},
        True,
    ),
    (
        "T-ORB-12",
        OBSERVED,
        NESTED_OR,
        "body",
        {
            "metricName": "CPUUtilization",
            "detail": {"scope": "Service", "type": "CloudWatch Alarm State Change"},
        },
        True,
    ),
    # the end-to-end example
    ("T-EX-1", EX, ACCEPT, "attributes", EXAMPLE_ATTRIBUTES, True),
    ("T-EX-2", EX, ACCEPT, "body", EXAMPLE_BODY, True),
    ("T-EX-3", EX, REJECT, "attributes", EXAMPLE_ATTRIBUTES, False),
    ("T-EX-4", EX, REJECT, "body", EXAMPLE_BODY, False),
    # body scope: nesting, arrays, non-JSON, null and booleans
    ("T-BODY-1", OBSERVED, BODY_OBJECT, "body", {"object": {"key": "auto-test"}}, True),
    ("T-BODY-2", OBSERVED, BODY_OBJECT, "body", {"object": {"key": "hardcodedvalue"}}, True),
    ("T-BODY-3", OBSERVED, BODY_OBJECT, "body", {"object": {"key": "test-auto"}}, False),
    (
        "T-BODY-4",
        OBSERVED,
        BODY_OBJECT,
        "body",
        {"object": {"key": "auto-test"}, "test": "just-exists"},
        False,
    ),
    (
        "T-BODY-5",
        OBSERVED,
        BODY_OBJECT,
        "body",
        {"object": {"key": "auto-test", "nested_key": "just-exists"}},
        False,
    ),
    ("T-BODY-6", OBSERVED, BODY_OBJECT, "body", {"object": {"test": "auto-test"}}, False),
    ("T-BODY-7", OBSERVED, BODY_OBJECT, "body", {"test": "auto-test"}, False),
    ("T-BODY-8", OBSERVED, BODY_OBJECT, "body", "Regular string message", False),
    ("T-BODY-9", OBSERVED, BODY_OBJECT, "body", '"Regular string message"', False),
    (
        "T-BODY-ARR-1",
        OBSERVED,
        {"headers": {"route-to": ["queue1"]}},
        "body",
        {"headers": {"route-to": ["queue1", "queue2"]}},
        True,
    ),
    (
        "T-BODY-ARR-2",
        OBSERVED,
        {"headers": {"route-to": ["queue1"]}},
        "body",
        {"headers": {"route-to": ["queue3"]}},
        False,
    ),
    (
        "T-BODY-ARR-3",
        OBSERVED,
        S3,
        "body",
        {
            "Records": [
                {
                    "eventSource": "aws:s3",
                    "eventName": "ObjectCreated:Put",
                    "s3": {"object": [[{"key": "auto-insurance-2314.xml", "size": 17}]]},
                },
                _record("ObjectRemoved:Delete", "home-insurance-2314.xml"),
            ]
        },
        True,
    ),
    (
        "T-BODY-ARR-4",
        OBSERVED,
        S3,
        "body",
        {"Records": [_record("ObjectCreated:Put", "auto-insurance-2314.xml")]},
        True,
    ),
    (
        "T-BODY-ARR-5",
        OBSERVED,
        S3,
        "body",
        {"Records": [_record("ObjectRemoved:Delete", "auto-insurance-2314.xml")]},
        False,
    ),
    (
        "T-BODY-ARR-6",
        OBSERVED,
        S3,
        "body",
        {"Records": [_record("ObjectCreated:Put", "home-insurance-2314.xml")]},
        False,
    ),
    (
        "T-BODY-EMPTY",
        OBSERVED,
        {"detail": {"eventVersion": [""]}},
        "body",
        {"resources": [], "detail": {"eventVersion": "", "responseElements": None}},
        True,
    ),
    ("T-BODY-null", STR, {"a": [None]}, "body", {"a": None}, True),
    ("T-BODY-null-absent", OBSERVED, {"a": [None]}, "body", {"b": 1}, False),
    ("T-BODY-bool", STR, {"flag": [True]}, "body", {"flag": True}, True),
    ("T-BODY-bool-string", STR, {"flag": [True]}, "body", {"flag": "true"}, False),
    ("T-BODY-object-leaf", STR, {"a": ["x"]}, "body", {"a": {"b": "x"}}, False),
    ("T-ARR-1", OBSERVED, {"store": ["value1"]}, "attributes", {"store": (S, "value1")}, True),
    ("T-ARR-2", OBSERVED, {"store": ["value1"]}, "attributes", {"store": (SA, '["value1", "value2"]')}, True),
    (
        "T-ARR-3",
        OBSERVED,
        {"store": ["value1"]},
        "attributes",
        {"store": (SA, '["value2", "value3"]')},
        False,
    ),
    ("T-BINARY", STR, {"blob": [{"exists": True}]}, "attributes", {"blob": ("Binary", b"\x00")}, True),
    ("T-BINARY-value", STR, {"blob": ["AA=="]}, "attributes", {"blob": ("Binary", b"\x00")}, False),
]
