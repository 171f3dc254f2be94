"""Pointer recognition, resolution and offloading (core.payloads), with an in-memory payload store."""

import json
import threading
import time
from typing import NamedTuple

import pytest

from msgctl.core.outbound import Delivery
from msgctl.core.parallel import ordered_map
from msgctl.core.payloads import (
    OffloadingTarget,
    PayloadError,
    Pointer,
    Resolver,
    marked,
    pointer_body,
    pointer_of,
)
from msgctl.envelope import Envelope, MessageAttribute
from msgctl.errors import UsageError

SIZE = {"ExtendedPayloadSize": MessageAttribute("Number", "12")}
POINTER = '["software.amazon.payloadoffloading.PayloadS3Pointer", {"s3BucketName": "b", "s3Key": "k/1"}]'


def _envelope(body, attributes=None):
    return Envelope("sqs:q", "m1", body.encode(), {}, attributes or {})


class Store:
    def __init__(self, objects=None):
        self.objects = dict(objects or {})
        self.reads = 0

    def get(self, pointer):
        self.reads += 1
        if (pointer.bucket, pointer.key) not in self.objects:
            raise PayloadError(f"cannot read the payload {pointer.url}: gone", "NoSuchKey")
        return self.objects[pointer.bucket, pointer.key]

    def put(self, bucket, key, payload):
        if bucket == "refusing":
            raise PayloadError(f"cannot store the payload in s3://{bucket}/{key}: denied", "AccessDenied")
        self.objects[bucket, key] = payload

    def delete(self, pointer):
        self.objects.pop((pointer.bucket, pointer.key))


def test_a_pointer_needs_its_size_attribute_and_a_known_class():
    assert pointer_of(_envelope(POINTER, SIZE)) == Pointer("b", "k/1", 12)
    legacy = POINTER.replace(
        "software.amazon.payloadoffloading.PayloadS3Pointer", "com.amazon.sqs.javamessaging.MessageS3Pointer"
    )
    assert pointer_of(_envelope(legacy, {"SQSLargePayloadSize": MessageAttribute("Number", "5")})).size == 5
    assert pointer_of(_envelope(POINTER)) is None  # no size attribute: a body that merely looks like one
    assert pointer_of(_envelope(POINTER.replace("PayloadS3Pointer", "OtherS3Pointer"), SIZE)) is None
    assert (
        pointer_of(_envelope('["software.amazon.payloadoffloading.PayloadS3Pointer", {"s3Key": "k"}]', SIZE))
        is None
    )
    assert pointer_of(_envelope(POINTER, {"ExtendedPayloadSize": MessageAttribute("String", "12")})) is None
    assert marked(_envelope('{"S3Pointer": 1}', SIZE)).attributes == {}


def test_a_pointer_inside_an_sns_notification_is_found_and_resolved_into_its_message():
    notification = json.dumps(
        {
            "Type": "Notification",
            "MessageId": "n1",
            "Message": POINTER,
            "MessageAttributes": {
                "ExtendedPayloadSize": {"Type": "Number", "Value": "7"},
                "kind": {"Type": "String", "Value": "big"},
            },
        }
    )
    envelope = marked(_envelope(notification))
    assert envelope.attributes["payload"] == {"s3": "s3://b/k/1", "size": 7}
    store = Store({("b", "k/1"): b"payload"})
    resolved = Resolver(store).resolve(envelope)
    wrapped = json.loads(resolved.body)
    assert wrapped["Message"] == "payload" and set(wrapped["MessageAttributes"]) == {"kind"}
    assert resolved.attributes["payload"]["resolved"] is True


def test_a_payload_that_cannot_be_read_leaves_the_pointer_and_names_it():
    resolver = Resolver(Store())
    envelope = resolver.resolve(_envelope(POINTER, SIZE))
    assert envelope.body == POINTER.encode() and envelope.message_attributes == SIZE
    assert "s3://b/k/1" in envelope.attributes["payload"]["error"]
    assert resolver.failures == ["message m1: cannot read the payload s3://b/k/1: gone (NoSuchKey)"]


def test_the_stream_keeps_the_order_and_reads_a_bounded_number_ahead():
    taken, given = [], []
    lock = threading.Lock()

    def items():
        for n in range(40):
            with lock:
                taken.append(n)
                assert len(taken) - len(given) <= 6, "read more than `ahead` items before giving any back"
            yield n

    def slow(n):
        time.sleep(0.001 * (n % 3))
        return n * 2

    for result in ordered_map(slow, items(), workers=3, ahead=6):
        with lock:
            given.append(result)
    assert given == [n * 2 for n in range(40)]


class Message(NamedTuple):
    id: str
    envelope: Envelope
    group_id: str | None = None
    dedup_id: str = "d"


class Target:
    channel, fifo, dedups, ordered, batch_size, max_bytes = "sqs:q", False, False, False, 10, 200

    def __init__(self, refuse=()):
        self.sent, self.refuse = [], set(refuse)

    def size_of(self, envelope):
        return len(envelope.body)

    def takes_pointer(self, envelope):
        return True

    def check(self, message):
        if len(message.envelope.body) > self.max_bytes:
            raise UsageError("too large")

    def send(self, messages):
        self.sent += messages
        return Delivery(failed=[(m, "refused") for m in messages if m.id in self.refuse])


def test_offloading_sends_pointers_for_what_is_too_large_and_cleans_up_after_a_refusal():
    store, target = Store(), Target(refuse={"big-refused"})
    offloading = OffloadingTarget(target, store, "bucket")
    small, big = _envelope("x" * 10), _envelope("y" * 500)
    offloading.check(Message("big", big))  # the pointer fits: no error
    delivery = offloading.send([Message("small", small), Message("big", big), Message("big-refused", big)])
    assert [m.id for m, _ in delivery.failed] == ["big-refused"]
    sent = {m.id: m.envelope for m in target.sent}
    assert sent["small"] is small
    key = json.loads(sent["big"].body)[1]["s3Key"]
    assert sent["big"].body == pointer_body("bucket", key)
    assert sent["big"].message_attributes["ExtendedPayloadSize"] == MessageAttribute("Number", "500")
    assert list(store.objects) == [("bucket", key)] and store.objects["bucket", key] == big.body
    assert offloading.stored == 1
    with pytest.raises(UsageError, match="extended clients' own"):
        offloading.check(Message("x", _envelope("z" * 500, SIZE)))


def test_a_body_that_cannot_be_stored_is_not_sent():
    target = Target()
    delivery = OffloadingTarget(target, Store(), "refusing").send([Message("big", _envelope("y" * 500))])
    assert target.sent == [] and "AccessDenied" in delivery.failed[0][1]


def test_prefetch_reads_payloads_at_once_and_resolve_takes_them_without_reading_again():
    both_reading = threading.Barrier(2, timeout=10)  # broken (an error) unless two reads overlap

    class SlowStore(Store):
        def get(self, pointer):
            if self.reads < 2:
                self.reads += 1
                both_reading.wait()
                return self.objects[pointer.bucket, pointer.key]
            return super().get(pointer)

    store = SlowStore({("b", f"k/{n}"): f"payload {n}".encode() for n in range(4)})
    resolver = Resolver(store, workers=4)
    envelopes = [_envelope(POINTER.replace("k/1", f"k/{n}"), SIZE) for n in range(4)]
    seen = [resolver.resolve(e) for e in resolver.prefetch(envelopes, lambda e: e)]
    assert [e.body for e in seen] == [f"payload {n}".encode() for n in range(4)]
    assert store.reads == 4  # each object once: resolve took what prefetch read


def _pointer(n, group=None):
    attributes = {"group_id": group} if group else {}
    body = POINTER.replace("k/1", f"k/{n}").encode()
    return Envelope("sqs:q", f"m{n}", body, attributes, SIZE)


class Source:
    def __init__(self, envelopes):
        self.envelopes, self.polled = envelopes, 0

    def poll(self):
        for envelope in self.envelopes:
            self.polled += 1
            yield envelope

    def printed(self, envelope):
        pass

    def close(self, report):
        pass


def test_tail_names_only_the_unread_payloads_of_what_it_shows_or_could_not_judge():
    from msgctl.core.tail import TailOptions, TailReport, tail
    from msgctl.filter.engine import FilterPolicy

    store = Store({("b", f"k/{n}"): json.dumps({"n": n}).encode() for n in (0, 1, 3)})  # k/2 is gone
    report = TailReport()
    shown = list(
        tail(Source([_pointer(n) for n in range(4)]), TailOptions(max=2), report, resolver=Resolver(store))
    )
    assert [e.body for e in shown] == [b'{"n": 0}', b'{"n": 1}'] and report.unresolved == []

    report = TailReport()
    body_filter = FilterPolicy({"n": [{"numeric": [">=", 1]}]}, "body")
    source = Source([_pointer(n) for n in range(4)])
    shown = list(tail(source, TailOptions(filter=body_filter), report, resolver=Resolver(store)))
    assert [e.id for e in shown] == ["m1", "m3"]  # m2's payload is gone: not judged, so not shown
    assert report.skipped == 2 and len(report.unresolved) == 1 and "s3://b/k/2" in report.unresolved[0]

    report = TailReport()
    shown = list(
        tail(Source([_pointer(n) for n in range(4)]), TailOptions(), report, resolver=Resolver(store))
    )
    assert shown[2].attributes["payload"]["error"] and len(report.unresolved) == 1  # shown as its pointer


def test_a_fifo_redrive_holds_back_what_follows_an_unjudged_message_of_its_group():
    from msgctl.core.redrive import Dead, _behind_unjudged

    batch = [Dead(f"m{n}", "r", _pointer(n, group=g)) for n, g in enumerate(["A", "A", "B", "A"])]
    unjudged = {"m0": "payload gone"}
    kept = _behind_unjudged(batch, [batch[1], batch[2], batch[3]], unjudged)
    assert [m.id for m in kept] == ["m2"]
    assert set(unjudged) == {"m0", "m1", "m3"} and "held back" in unjudged["m1"]
