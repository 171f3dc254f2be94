import pytest
from hypothesis import given
from hypothesis import strategies as st

from msgctl.address import AddressError, parse_channel
from msgctl.errors import ExitCode


@pytest.mark.parametrize(
    ("text", "canonical", "kind"),
    [
        ("sqs:orders", "sqs:orders", "queue"),
        ("sqs:orders.fifo", "sqs:orders.fifo", "queue"),
        ("https://sqs.eu-west-1.amazonaws.com/123456789012/orders", "sqs:orders", "queue"),
        ("http://127.0.0.1:4566/000000000000/orders", "sqs:orders", "queue"),
        ("arn:aws:sqs:us-east-1:123456789012:orders", "sqs:orders", "queue"),
        ("sns:alerts", "sns:alerts", "topic"),
        ("arn:aws:sns:us-east-1:123456789012:alerts.fifo", "sns:alerts.fifo", "topic"),
        ("amq:queue/orders.in", "amq:queue/orders.in", "queue"),
        ("amq:topic/VirtualTopic.orders", "amq:topic/VirtualTopic.orders", "topic"),
        ("amq://prod/queue/DLQ.orders", "amq:queue/DLQ.orders", "queue"),
    ],
)
def test_accepted_forms_print_back_canonically(text: str, canonical: str, kind: str) -> None:
    channel = parse_channel(text)
    assert str(channel) == canonical
    assert channel.kind == kind


def test_queue_url_keeps_region_account_and_url() -> None:
    url = "https://sqs.eu-west-1.amazonaws.com/123456789012/orders"
    channel = parse_channel(url)
    assert (channel.region, channel.account, channel.queue_url) == ("eu-west-1", "123456789012", url)


def test_arn_keeps_region_and_account() -> None:
    channel = parse_channel("arn:aws:sns:ap-south-1:111122223333:alerts")
    assert (channel.service, channel.region, channel.account) == ("sns", "ap-south-1", "111122223333")


def test_profile_address_names_its_broker_profile() -> None:
    assert parse_channel("amq://prod/topic/x").broker_profile == "prod"


def test_fifo_is_a_name_suffix_on_aws_only() -> None:
    assert parse_channel("sqs:a.fifo").fifo
    assert not parse_channel("sqs:a").fifo
    assert not parse_channel("amq:queue/a.fifo").fifo


@pytest.mark.parametrize(
    "text",
    [
        "",
        "orders",
        "sqs:",
        "sqs:has space",
        "sqs:" + "a" * 81,
        "sns:bad/name",
        "kafka:orders",
        "amq:orders",
        "amq:queue/",
        "amq:stream/x",
        "amq:queue/a,b",
        "amq:queue/orders.*",
        "amq:topic/orders.>",
        "amq://prod/queue/>",
        "amq:///queue/x",
        "arn:aws:s3:::bucket",
        "arn:aws:sqs:us-east-1:12:orders",
        "https://example.com/orders",
        "http://127.0.0.1:4566/notanaccount/orders",
    ],
)
def test_bad_addresses_are_usage_errors_naming_the_accepted_forms(text: str) -> None:
    with pytest.raises(AddressError) as info:
        parse_channel(text)
    assert info.value.exit_code == ExitCode.USAGE
    assert "amq:queue/NAME" in info.value.message and "sqs:NAME" in info.value.message
    assert "\n" not in info.value.message


@pytest.mark.slow
@given(st.text(max_size=120))
def test_any_text_parses_or_is_a_usage_error(text: str) -> None:
    try:
        channel = parse_channel(text)
    except AddressError:
        return
    assert parse_channel(str(channel)).name == channel.name


@given(
    st.sampled_from(["sqs", "sns"]),
    st.from_regex(r"[A-Za-z0-9_-]{1,60}(\.fifo)?", fullmatch=True),
)
def test_valid_aws_names_round_trip(service: str, name: str) -> None:
    channel = parse_channel(f"{service}:{name}")
    assert str(channel) == f"{service}:{name}"
    assert parse_channel(str(channel)) == channel
