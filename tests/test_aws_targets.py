"""What the SNS sender makes of a body, without a network: envelopes unwrapped, bad ones refused cleanly."""

import json

import pytest

from msgctl.backends.aws_targets import _unwrapped
from msgctl.core.replay import Replayed
from msgctl.envelope import Envelope, MessageAttribute
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


class _Clients:
    """Hands SnsTarget a scripted client: no network (the real topics are in test_cli_replay_targets)."""

    def __init__(self, client):
        self._client = client

    def client(self, service, region):
        return self._client


class _Topic:
    """PublishBatch that refuses with ``status`` while ``refusing``, else accepts and records each batch."""

    def __init__(self, status=400, code="BatchRequestTooLong"):
        self.status, self.code, self.refusing = status, code, True
        self.batches: list[list[dict]] = []

    def publish_batch(self, TopicArn, PublishBatchRequestEntries):
        from botocore.exceptions import ClientError

        if self.refusing:
            error = {"Code": self.code, "Message": "The length of all the messages put together is too long"}
            metadata = {"HTTPStatusCode": self.status, "RetryAttempts": 0 if self.status < 500 else 4}
            raise ClientError({"Error": error, "ResponseMetadata": metadata}, "PublishBatch")
        self.batches.append(PublishBatchRequestEntries)
        return {
            "Successful": [{"Id": e["Id"], "MessageId": f"sns-{e['Id']}"} for e in PublishBatchRequestEntries]
        }


def _sns_target(topic):
    from msgctl.address import parse_channel
    from msgctl.backends.aws_targets import SnsTarget

    return SnsTarget(_Clients(topic), "arn:aws:sns:us-east-1:000000000000:t", parse_channel("sns:t"))


def _replayed(n: int, body: str) -> Replayed:
    return Replayed(n + 1, f"m{n}", Envelope("sqs:x", f"m{n}", body.encode()), None, f"d{n}")


@pytest.mark.parametrize(
    "status, code, unknown",
    [
        (400, "BatchRequestTooLong", False),
        (400, "InvalidBatchEntryId", False),
        (403, "AuthorizationError", False),
        (500, "InternalError", True),
        (503, "ServiceUnavailable", True),
    ],
)
def test_a_refused_publish_batch_is_failed_and_never_unsure(status, code, unknown):
    topic = _Topic(status, code)
    messages = [_replayed(n, "x") for n in range(3)]
    delivery = _sns_target(topic).send(messages)
    assert [m for m, _ in delivery.failed] == messages and code in delivery.failed[0][1]
    assert delivery.unsure == (messages if unknown else [])
    assert delivery.maybe_twice == []


def test_a_rerun_after_a_rejected_publish_batch_names_no_possible_duplicate(tmp_path):
    from msgctl.core.ledger import Ledger
    from msgctl.core.replay import ReplayOptions, ReplayReport, replay

    topic = _Topic()
    target = _sns_target(topic)
    messages = [_replayed(n, "x") for n in range(9)]
    ledger = Ledger(tmp_path / "ledger.sqlite")
    first = replay(messages, target, ledger, ReplayOptions(), ReplayReport())
    assert (first.replayed, len(first.failed), first.possible_duplicates) == (0, 9, [])
    topic.refusing = False
    rerun = replay(messages, target, ledger, ReplayOptions(), ReplayReport())
    assert (rerun.replayed, rerun.failed, rerun.possible_duplicates) == (9, [], [])


def test_sns_batches_are_cut_at_256_kb_and_a_larger_message_is_refused_before_sending():
    from msgctl.backends.aws_targets import SNS_MAX_BYTES

    topic = _Topic()
    topic.refusing = False
    target = _sns_target(topic)
    messages = [_replayed(0, "L" * 200_000)] + [_replayed(n, "s" * 8_000) for n in range(1, 10)]
    delivery = target.send(messages)
    assert delivery.failed == []
    assert [e["Message"] for batch in topic.batches for e in batch] == [m.envelope.text for m in messages]
    assert all(sum(len(e["Message"]) for e in batch) <= SNS_MAX_BYTES for batch in topic.batches)
    assert len(topic.batches) == 2
    with pytest.raises(UsageError, match="over SNS's limit"):
        target.check(_replayed(11, "x" * (SNS_MAX_BYTES + 1)))


def test_sizes_count_utf8_bytes_of_the_body_and_of_each_attribute():
    from msgctl.backends.aws_targets import _size

    entry = {
        "MessageBody": "héllo €",  # 7 characters, 10 bytes
        "MessageAttributes": {
            "név": {"DataType": "String", "StringValue": "ü"},  # 4 + 6 + 2
            "raw": {"DataType": "Binary", "BinaryValue": b"\x00\x01\x02"},  # 3 + 6 + 3
            "n": {"DataType": "Number", "StringValue": "12"},  # 1 + 6 + 2
        },
    }
    assert _size(entry) == 10 + 12 + 12 + 9
    assert _size({"Message": "ascii"}) == 5


def test_replays_check_of_an_sqs_message_counts_what_its_request_entry_counts():
    from msgctl.backends.aws_targets import _size, message_size
    from msgctl.backends.sqs import to_sqs_attribute

    attributes = {
        "név": MessageAttribute("String", "ü€"),
        "raw": MessageAttribute("Binary", b"\x00\xff"),
        "n": MessageAttribute("Number", "12.5"),
        "tags": MessageAttribute("String.Array", '["a"]'),  # the text SQS holds
    }
    body = "héllo".encode()
    entry = {
        "MessageBody": body.decode(),
        "MessageAttributes": {name: to_sqs_attribute(name, a) for name, a in attributes.items()},
    }
    by_hand = 6 + (4 + 6 + 5) + (3 + 6 + 2) + (1 + 6 + 4) + (4 + 12 + 5)  # UTF-8 bytes of each part
    assert message_size(body, attributes) == _size(entry) == by_hand
    with pytest.raises(UsageError, match=r"SQS has no String\.Array type"):
        message_size(body, {"tags": MessageAttribute("String.Array", ["a"])})


def test_attribute_rules_sqs_and_sns_share_and_those_they_do_not():
    from msgctl.backends.aws_targets import check_attributes

    array = {"tags": MessageAttribute("String.Array", '["a","b"]')}
    check_attributes(array, sns=False)  # SQS holds it as a String of custom type Array
    check_attributes({"tags": MessageAttribute("String.Array", ["a", "b"])}, sns=True)
    check_attributes({f"a{n}": MessageAttribute("String", "x") for n in range(10)}, sns=False)
    with pytest.raises(UsageError, match="11 message attributes: at most 10"):
        check_attributes({f"a{n}": MessageAttribute("String", "x") for n in range(11)}, sns=True)
    with pytest.raises(UsageError, match="is no String, Number or Binary"):
        check_attributes({"x": MessageAttribute("Bogus", "x")}, sns=False)
    with pytest.raises(UsageError, match="'abc' is not a number"):
        check_attributes({"x": MessageAttribute("Number.int", "abc")}, sns=False)
