"""Payloads in S3, as the SQS/SNS Extended Client libraries keep them (see ``core.payloads``)."""

from __future__ import annotations

from typing import Any

from msgctl.backends.aws import AwsClients, error_code, translate
from msgctl.core.payloads import PayloadError, Pointer


class S3Payloads:
    """Reads, writes and deletes payload objects with the run's AWS session (in ``region``: a bucket in
    another region is found through S3's redirect)."""

    def __init__(self, clients: AwsClients, region: str | None = None) -> None:
        self._clients, self._region = clients, region

    @property
    def _s3(self) -> Any:
        return self._clients.client("s3", self._region)

    def get(self, pointer: Pointer) -> bytes:
        try:
            response = self._s3.get_object(Bucket=pointer.bucket, Key=pointer.key)
            return bytes(response["Body"].read())
        except Exception as exc:
            raise _payload_error(exc, f"cannot read the payload {pointer.url}") from exc

    def put(self, bucket: str, key: str, payload: bytes) -> None:
        try:
            self._s3.put_object(Bucket=bucket, Key=key, Body=payload)
        except Exception as exc:
            raise _payload_error(exc, f"cannot store the payload in s3://{bucket}/{key}") from exc

    def delete(self, pointer: Pointer) -> None:
        try:
            self._s3.delete_object(Bucket=pointer.bucket, Key=pointer.key)
        except Exception as exc:
            raise _payload_error(exc, f"cannot delete the payload {pointer.url}") from exc

    def bucket_exists(self, bucket: str) -> None:
        """Raise a PayloadError naming the bucket when it is missing or cannot be written to by us."""
        try:
            self._s3.head_bucket(Bucket=bucket)
        except Exception as exc:
            raise _payload_error(exc, f"cannot use the payload bucket {bucket}") from exc


def _payload_error(exc: Exception, what: str) -> Exception:
    translated = translate(exc, what)
    if translated is None:
        return exc
    code = error_code(exc) or translated.code
    if code in ("404", "NoSuchBucket") and "bucket" in what:
        return PayloadError(f"{what}: the bucket does not exist", "NoSuchBucket")
    return PayloadError(translated.message, code)
