"""Shared AWS plumbing: one boto3 session per run and the mapping of AWS errors onto exit codes."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from msgctl.config import Settings
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
    """Creates boto3 clients lazily, once each, with msgctl's endpoint, region and retry settings."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._session: Any = None
        self._clients: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        if service not in self._clients:
            with aws_errors(f"cannot create the {service} client"):
                self._clients[service] = self._create(service)
        return self._clients[service]

    def _create(self, service: str) -> Any:
        from botocore.config import Config

        session = self._ensure_session()
        config = Config(retries={"mode": "adaptive", "max_attempts": 5}, connect_timeout=5, read_timeout=30)
        return session.client(service, endpoint_url=self._endpoint_for(service), config=config)

    def _endpoint_for(self, service: str) -> str | None:
        if self._settings.endpoint_url:
            return self._settings.endpoint_url
        # Service-specific variables (AWS_ENDPOINT_URL_SQS, ...) are read by botocore itself.
        service_var = f"AWS_ENDPOINT_URL_{service.upper()}"
        if os.environ.get(service_var) or os.environ.get("AWS_ENDPOINT_URL"):
            return None
        return self._settings.config.aws_endpoint_url

    def _ensure_session(self) -> Any:
        if self._session is None:
            import boto3

            with aws_errors("cannot open an AWS session"):
                self._session = boto3.session.Session(
                    profile_name=self._settings.profile, region_name=self._settings.region
                )
            if self._session.region_name is None:
                raise UsageError("no AWS region: pass --region or set AWS_REGION")
        return self._session

    @property
    def region(self) -> str:
        return str(self._ensure_session().region_name)


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
        message = exc.response.get("Error", {}).get("Message") or str(exc)
        text = f"{what}: {message}"
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


def arn_name(arn: str) -> str:
    return arn.rsplit(":", 1)[-1]
