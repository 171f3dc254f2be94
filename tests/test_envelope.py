import contextlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from msgctl.envelope import Envelope, MessageAttribute
from msgctl.errors import UsageError


def test_text_envelope_round_trips_with_every_attribute_type() -> None:
    envelope = Envelope(
        channel="sqs:orders",
        id="m-1",
        body=b'{"order": 1}',
        attributes={"sent_at": "2026-11-29T10:00:00Z", "receive_count": 2, "group_id": None},
        message_attributes={
            "kind": MessageAttribute("String", "order"),
            "amount": MessageAttribute("Number", "301.50"),
            "blob": MessageAttribute("Binary", b"\x00\xff\x10"),
            "tags": MessageAttribute("String.Array", ["a", 1, None]),
            "unit": MessageAttribute("Number.euros", "3"),
        },
    )
    line = envelope.dumps()
    raw = json.loads(line)
    assert raw["body_encoding"] == "text"
    assert raw["message_attributes"]["blob"] == {"type": "Binary", "value": "AP8Q"}
    assert Envelope.loads(line) == envelope


def test_binary_body_travels_as_base64() -> None:
    envelope = Envelope(channel="amq:queue/x", id=None, body=b"\xff\xfe\x00")
    raw = envelope.to_json()
    assert raw["body_encoding"] == "base64"
    assert Envelope.from_json(raw).body == b"\xff\xfe\x00"


@given(st.binary(max_size=200))
def test_any_body_round_trips(body: bytes) -> None:
    envelope = Envelope(channel="sqs:x", id="1", body=body)
    assert Envelope.loads(envelope.dumps()).body == body


def test_a_string_array_keeps_the_text_sqs_holds_for_it() -> None:
    """SQS takes String.Array as a String of custom type Array, whatever its text (SNS raw delivery)."""
    for text in ('["a", 1]', "not a list"):
        attribute = MessageAttribute("String.Array", text)
        envelope = Envelope("sqs:x", "1", b"x", message_attributes={"t": attribute})
        assert Envelope.loads(envelope.dumps()).message_attributes["t"] == attribute


@pytest.mark.parametrize(
    "line",
    [
        "not json",
        "[]",
        '{"body": 3}',
        '{"body": "x", "body_encoding": "hex"}',
        '{"body": "!!", "body_encoding": "base64"}',
        '{"body": "x", "message_attributes": {"a": "plain"}}',
        '{"body": "x", "message_attributes": {"a": {"type": "Binary", "value": "%%"}}}',
        '{"body": "x", "message_attributes": {"a": {"type": "String.Array", "value": {"x": 1}}}}',
        '{"body": "x", "attributes": []}',
    ],
)
def test_malformed_envelopes_are_usage_errors(line: str) -> None:
    with pytest.raises(UsageError):
        Envelope.loads(line)


@given(st.text(max_size=200))
def test_reader_never_raises_anything_but_usage_error(line: str) -> None:
    with contextlib.suppress(UsageError):
        Envelope.loads(line)


def test_the_text_of_a_read_envelope_follows_its_body():
    import dataclasses

    number = {"n": {"type": "Number", "value": "1"}}
    read = Envelope.from_json({"body": "héllo", "message_attributes": number})
    assert (read.text, read.body) == ("héllo", "héllo".encode())
    assert read.message_attributes == {"n": MessageAttribute("Number", "1")}
    binary = Envelope.from_json({"body": "/w==", "body_encoding": "base64"})
    assert (binary.body, binary.text) == (b"\xff", None)
    assert dataclasses.replace(read, body=b"\xff").text is None
    assert dataclasses.replace(binary, body=b"ok").text == "ok"
    assert read == Envelope.from_json(read.to_json()) == Envelope.loads(read.dumps())
