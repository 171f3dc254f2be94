"""Shared AWS plumbing: one botocore session per run and the mapping of AWS errors onto exit codes."""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from msgctl.config import Settings
from msgctl.core.parallel import read_workers
from msgctl.core.ports import OutgoingMessage
from msgctl.envelope import MessageAttribute
from msgctl.errors import AccessDeniedError, MsgctlError, NotFoundError, UsageError

NOT_FOUND_CODES = frozenset(
    {
        "AWS.SimpleQueueService.NonExistentQueue",
        "QueueDoesNotExist",
        "NonExistentQueue",
        "NotFound",
        "NotFoundException",
        "ResourceNotFoundException",
    }
)
ACCESS_DENIED_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "AuthorizationError",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "ExpiredTokenException",
        "KMSAccessDeniedException",
    }
)
log = logging.getLogger(__name__)
# botocore's own default for its standard and adaptive modes: with the read timeout, it bounds how long an
# endpoint that accepts connections but never answers keeps a command waiting.
MAX_ATTEMPTS = 3
BOTOCORE_POOL_CONNECTIONS = 10  # botocore's default max_pool_connections
USAGE_CODES = frozenset(
    {
        "InvalidParameterValue",
        "InvalidParameter",
        "InvalidParameterValueException",
        "MissingParameter",
        "InvalidAttributeName",
        "InvalidAttributeValue",
        "InvalidMessageContents",
        "ValidationError",
        "BadRequestException",
    }
)


class AwsClients:
    """Creates boto3 clients lazily, once each, with msgctl's endpoint, region and retry settings. Safe to
    share between threads: a botocore session is not, so one lock guards it and the clients it makes."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._lock = threading.RLock()
        self._session: Any = None
        self._region: str | None = None
        self._clients: dict[tuple[str, str | None], Any] = {}
        self._caller: tuple[str, str] | None = None
        self.secrets: list[str] = []

    def client(self, service: str, region: str | None = None) -> Any:
        """A client for the session's region, or for ``region`` (a queue URL or ARN elsewhere)."""
        key = (service, None if region == self.region else region)
        made = self._clients.get(key)  # (made once: read without the lock, which creating one holds)
        if made is not None:
            return made
        with self._lock:
            if key not in self._clients:
                with aws_errors(f"cannot create the {service} client"):
                    self._clients[key] = self._create(service, key[1])
            return self._clients[key]

    def _create(self, service: str, region: str | None) -> Any:
        from botocore.config import Config

        session = self._ensure_session()
        timeouts = self._settings.config.timeouts
        config = Config(
            retries={"mode": "adaptive", "max_attempts": MAX_ATTEMPTS},
            connect_timeout=timeouts.connect,
            read_timeout=timeouts.read,
            # A connection per thread that may share the client (check reads queues, asks CloudWatch and
            # SNS's subscriptions' queues at once): with fewer, urllib3 discards the surplus and warns.
            max_pool_connections=max(BOTOCORE_POOL_CONNECTIONS, 3 * read_workers()),
        )
        endpoint = self._endpoint_for(service)
        log.info("%s client: region %s, endpoint %s", service, region or self.region, endpoint or "default")
        return session.create_client(service, region_name=region, endpoint_url=endpoint, config=config)

    def _endpoint_for(self, service: str) -> str | None:
        if self._settings.endpoint_url:
            return _checked_endpoint(self._settings.endpoint_url, "--endpoint-url")
        # Service-specific variables (AWS_ENDPOINT_URL_SQS, ...) are read by botocore itself.
        service_var = f"AWS_ENDPOINT_URL_{service.upper()}"
        for variable in (service_var, "AWS_ENDPOINT_URL"):
            if os.environ.get(variable):
                _checked_endpoint(os.environ[variable], variable)
                return None
        configured = self._settings.config.aws_endpoint_url
        return _checked_endpoint(configured, "[aws] endpoint_url in the config file") if configured else None

    def _ensure_session(self) -> Any:
        # botocore's session, not boto3's: the clients are the same, and boto3's import (s3transfer) costs
        # a tenth of a second of every run.
        with self._lock:
            if self._session is None:
                import botocore.session

                with aws_errors("cannot open an AWS session"):
                    session = botocore.session.Session(profile=self._settings.profile)
                    if self._settings.region:
                        session.set_config_variable("region", self._settings.region)
                    self._region = session.get_config_variable("region")
                if self._region is None:
                    raise UsageError("no AWS region: pass --region or set AWS_REGION")
                self._session = session
                self.secrets = _credential_secrets(session)
            return self._session

    @property
    def region(self) -> str:
        if self._session is None:
            self._ensure_session()
        return str(self._region)

    def arn(self, service: str, name: str) -> str:
        """The ARN a resource of this account and region has (or will have once created)."""
        account, partition = self._identity()
        return f"arn:{partition}:{service}:{self.region}:{account}:{name}"

    def _identity(self) -> tuple[str, str]:
        with self._lock:
            if self._caller is None:
                with aws_errors("cannot read the AWS account id"):
                    arn = str(self.client("sts").get_caller_identity()["Arn"])
                parts = arn.split(":")
                self._caller = (parts[4], parts[1])
            return self._caller


def _checked_endpoint(url: str, source: str) -> str:
    """An endpoint botocore can use: http(s)://HOST[:PORT]; otherwise a usage error naming where it came
    from (botocore's own complaint is a bare ValueError)."""
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 - parsing the port is the check
    except ValueError:
        parts = parts._replace(netloc="")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"{source}={url!r} is not an endpoint URL: expected http(s)://HOST[:PORT]")
    return url


def _credential_secrets(session: Any) -> list[str]:
    """The session's secret key and token, wherever they came from (files, SSO, roles), for redaction."""
    try:
        credentials = session.get_credentials()
        frozen = credentials.get_frozen_credentials() if credentials else None
    except Exception:  # unresolvable credentials fail later, with the AWS call that needs them
        return []
    return [s for s in (getattr(frozen, "secret_key", None), getattr(frozen, "token", None)) if s]


def error_code(exc: BaseException) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return str(code) if code else None
    return None


def translate(exc: Exception, what: str) -> MsgctlError | None:
    """Map a boto3/botocore exception onto a MsgctlError, or None when it is not an AWS error."""
    from botocore import exceptions as bx

    if isinstance(exc, bx.ClientError):
        code = error_code(exc) or "ClientError"
        text = f"{what}: {_one_line(exc.response.get('Error', {}).get('Message') or str(exc))}"
        if code in NOT_FOUND_CODES:
            return NotFoundError(text, code)
        if code in ACCESS_DENIED_CODES:
            return AccessDeniedError(text, code)
        if code in USAGE_CODES:
            return UsageError(text, code)
        return MsgctlError(text, code)
    if isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError):
        return AccessDeniedError(
            f"{what}: no AWS credentials found (set AWS_PROFILE or --profile)", "NoCredentials"
        )
    if isinstance(exc, bx.ProfileNotFound):
        return UsageError(f"{what}: {exc}", "ProfileNotFound")
    if isinstance(exc, bx.NoRegionError):
        return UsageError(f"{what}: no AWS region: pass --region or set AWS_REGION", "NoRegion")
    if isinstance(exc, bx.ReadTimeoutError):
        return MsgctlError(
            f"{what}: {getattr(exc, 'kwargs', {}).get('endpoint_url', 'AWS')} did not answer within the "
            "read timeout ([timeouts] read in the config file)",
            "ReadTimeout",
        )
    if isinstance(exc, bx.EndpointConnectionError | bx.ConnectionClosedError | bx.ConnectTimeoutError):
        return MsgctlError(
            f"{what}: cannot reach {getattr(exc, 'kwargs', {}).get('endpoint_url', 'AWS')}",
            type(exc).__name__,
        )
    if isinstance(exc, bx.ParamValidationError):
        return UsageError(f"{what}: {exc}", "ParamValidation")
    if isinstance(exc, bx.BotoCoreError):
        return MsgctlError(f"{what}: {exc}", type(exc).__name__)
    return None


@contextmanager
def aws_errors(what: str) -> Iterator[None]:
    try:
        yield
    except MsgctlError:
        raise
    except Exception as exc:
        translated = translate(exc, what)
        if translated is None:
            raise
        raise translated from exc


def _one_line(message: str) -> str:
    """An endpoint's error text on one line; an HTML error page (an emulator's 500) as just that."""
    if message.lstrip().lower().startswith(("<!doctype", "<html")):
        title = re.search(r"<title>(.*?)</title>", message, re.IGNORECASE | re.DOTALL)
        return f"the endpoint answered with an error page: {title.group(1).strip() if title else 'no title'}"
    return " ".join(message.split())


def arn_name(arn: str) -> str:
    return arn.rsplit(":", 1)[-1]


def partition_of(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def send_request(
    message: OutgoingMessage,
    body_key: str,
    to_attribute: Callable[[str, MessageAttribute], dict[str, Any]],
    service: str,
) -> dict[str, Any]:
    """The body, message attributes and FIFO ids of one SQS send or SNS publish (``body_key`` names the
    body: MessageBody or Message)."""
    try:
        body = message.body.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{service} message bodies must be text (UTF-8)") from None
    request: dict[str, Any] = {body_key: body}
    if message.message_attributes:
        request["MessageAttributes"] = {
            name: to_attribute(name, a) for name, a in message.message_attributes.items()
        }
    if message.group_id:
        request["MessageGroupId"] = message.group_id
    if message.dedup_id:
        request["MessageDeduplicationId"] = message.dedup_id
    return request
