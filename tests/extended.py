"""The real Amazon SQS and SNS Extended Client libraries (amazon-sqs-extended-client and
amazon-sns-extended-client) as the producers and consumers msgctl must get along with.

Importing either package replaces boto3's Session for every later caller (their ``__init__`` does so): this
module puts boto3's own back at once, so the other tests keep plain clients, and makes each extended session
explicitly. Their S3 client is made without an endpoint, so AWS_ENDPOINT_URL must name LocalStack (the
``localstack`` fixture sets it)."""

import boto3
import boto3.session

_plain_session = boto3.session.Session
_default_session = boto3.DEFAULT_SESSION
import sns_extended_client.session as sns_extended  # noqa: E402
import sqs_extended_client.client as sqs_extended  # noqa: E402

boto3.session.Session = _plain_session
boto3.Session = _plain_session
boto3.DEFAULT_SESSION = _default_session

CREDENTIALS = {
    "region_name": "us-east-1",
    "aws_access_key_id": "testing",
    "aws_secret_access_key": "testing-secret",
}


def sqs_client(endpoint, bucket=None, legacy=False, always=False):
    """An extended SQS client: it puts bodies over 256 KB (or all, ``always``) in ``bucket`` when sending,
    and reads pointers back from S3 when receiving."""
    client = sqs_extended.SQSExtendedClientSession(**CREDENTIALS).client("sqs", endpoint_url=endpoint)
    if bucket is not None:
        client.large_payload_support = bucket
        client.always_through_s3 = always
        client.use_legacy_attribute = legacy
    return client


def sns_client(endpoint, bucket, always=False):
    client = sns_extended.SNSExtendedClientSession(**CREDENTIALS).client("sns", endpoint_url=endpoint)
    client.large_payload_support = bucket
    client.always_through_s3 = always
    return client


def receive_all(client, url, expected, timeout=30):
    """What the extended client's consumer side reads (payloads fetched from S3). Each message is deleted
    with a plain client and its plain receipt handle, so its S3 object stays."""
    import time

    plain = boto3.client("sqs", endpoint_url=client.meta.endpoint_url, **CREDENTIALS)
    messages, deadline = [], time.monotonic() + timeout
    while len(messages) < expected and time.monotonic() < deadline:
        batch = client.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1, MessageAttributeNames=["All"]
        ).get("Messages", [])
        for message in batch:
            # (the library's get_original_receipt_handle splits on "-", which receipt handles may hold)
            handle = message["ReceiptHandle"].rsplit(sqs_extended.S3_KEY_MARKER, 1)[-1]
            plain.delete_message(QueueUrl=url, ReceiptHandle=handle)
        messages += batch
    return messages
