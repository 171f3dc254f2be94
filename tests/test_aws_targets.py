"""What the SNS sender makes of a body, without a network: envelopes unwrapped, bad ones refused cleanly."""

import json

import pytest

from msgctl.backends.aws_targets import _unwrapped
from msgctl.core.replay import Replayed
from msgctl.envelope import Envelope
from msgctl.errors import UsageError


def message(body: bytes) -> Replayed:
    return Replayed(1, "m1", Envelope("sqs:x", "m1", body), None, "d1")


def test_a_notification_is_unwrapped_with_its_attributes():
    body = {
        "Type": "Notification",
        "Message": "hello",
        "MessageAttributes": {"k": {"Type": "String", "Value": "v"}},
    }
    assert _unwrapped(message(json.dumps(body).encode())) == {
        "Message": "hello",
        "MessageAttributes": {"k": {"DataType": "String", "StringValue": "v"}},
    }


def test_a_notification_without_attributes_is_unwrapped():
    body = {"Type": "Notification", "Message": "hello", "MessageAttributes": None}
    assert _unwrapped(message(json.dumps(body).encode())) == {"Message": "hello"}


def test_a_notification_keeps_its_subject_and_its_string_array_text():
    body = {
        "Type": "Notification",
        "Subject": "Order shipped",
        "Message": "hello",
        "MessageAttributes": {"tags": {"Type": "String.Array", "Value": '["a", 1, true, null]'}},
    }
    assert _unwrapped(message(json.dumps(body).encode())) == {
        "Message": "hello",
        "MessageAttributes": {"tags": {"DataType": "String.Array", "StringValue": '["a", 1, true, null]'}},
        "Subject": "Order shipped",
    }


@pytest.mark.parametrize(
    "body",
    [
        b"\xff\xfe not text",
        json.dumps({"Type": "Notification", "Message": "x", "MessageAttributes": {"k": "v"}}).encode(),
        json.dumps(
            {
                "Type": "Notification",
                "Message": "x",
                "MessageAttributes": {"k": {"Type": "Binary", "Value": "!!"}},
            }
        ).encode(),
        *(
            json.dumps(
                {
                    "Type": "Notification",
                    "Message": "x",
                    "MessageAttributes": {"k": {"Type": "String.Array", "Value": value}},
                }
            ).encode()
            for value in ("not json", '{"a": 1}', '[["nested"]]')
        ),
    ],
)
def test_what_sns_cannot_take_is_a_usage_error(body):
    with pytest.raises(UsageError):
        _unwrapped(message(body))
