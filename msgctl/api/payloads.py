"""``send`` with large payloads: a body over the target's size limit goes to S3, as the Amazon SQS/SNS
Extended Client libraries put it, and the message sent is the pointer to it (see ``core.payloads``)."""

from __future__ import annotations

from contextlib import suppress
from typing import cast

from msgctl.address import Channel
from msgctl.backends.registry import Backends
from msgctl.core.channels import check_sendable, send_message
from msgctl.core.payloads import (
    OffloadingTarget,
    PayloadError,
    Pointer,
    SizedTarget,
    as_pointer,
    new_key,
    refuse_reserved,
)
from msgctl.core.ports import OutgoingMessage, SendReceipt
from msgctl.envelope import Envelope, MessageAttribute
from msgctl.errors import MsgctlError, UsageError


def send_with_payloads(
    backends: Backends,
    channel: Channel,
    body: bytes,
    attributes: dict[str, MessageAttribute],
    group_id: str | None,
    dedup_id: str | None,
    bucket: str | None,
    always: bool,
) -> SendReceipt:
    """Send one message; with ``bucket``, its body goes to S3 first when the target could not take it
    (or ``always``). The object is deleted again when the target refused the message."""
    message = OutgoingMessage(body, attributes, group_id, dedup_id)
    backend = backends.for_channel(channel)
    if not _offloads(channel, bucket, always):
        return send_message(backend, channel, message)
    assert bucket is not None
    from msgctl.backends.aws_targets import outcome_unknown
    from msgctl.backends.s3_payloads import S3Payloads

    store = S3Payloads(backends.aws, channel.region)
    target, _ = backends.outbound_target(channel)  # its size limit, as replay's
    envelope = Envelope(str(channel), None, body, {}, attributes)
    if not OffloadingTarget(cast(SizedTarget, target), store, bucket, always).needs_s3(envelope):
        return send_message(backend, channel, message)
    check_sendable(backend, channel, message)
    refuse_reserved(attributes)
    key = new_key()
    store.put(bucket, key, body)
    pointer = as_pointer(envelope, bucket, key)
    try:
        return send_message(
            backend, channel, OutgoingMessage(pointer.body, pointer.message_attributes, group_id, dedup_id)
        )
    except MsgctlError as exc:
        if outcome_unknown(exc):
            exc.note = f"the body was stored in s3://{bucket}/{key}; the message may have been sent"
        else:  # refused outright: nothing points to the object
            with suppress(PayloadError):
                store.delete(Pointer(bucket, key, len(body)))
        raise


def offloading_target(
    backends: Backends, target: SizedTarget, to: Channel, bucket: str | None, always: bool
) -> OffloadingTarget | None:
    """The target wrapped so that the bodies it cannot take (or all, ``always``) go to ``bucket``."""
    if not _offloads(to, bucket, always):
        return None
    assert bucket is not None
    from msgctl.backends.s3_payloads import S3Payloads

    store = S3Payloads(backends.aws, to.region)
    store.bucket_exists(bucket)
    return OffloadingTarget(target, store, bucket, always)


def _offloads(channel: Channel, bucket: str | None, always: bool) -> bool:
    if bucket is None:
        if always:
            raise UsageError(
                "--payload-always needs --payload-bucket (or [aws] payload_bucket in the config file)"
            )
        return False
    if channel.service == "amq":
        raise UsageError(
            f"--payload-bucket: {channel} takes large bodies as they are; S3 payloads are for SQS and SNS"
        )
    return True
