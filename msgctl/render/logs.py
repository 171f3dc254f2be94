"""Logs on stderr for -v and --debug, with every known secret blanked out of each line."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Sequence

REDACTED = "****"


def redact(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    return text


class RedactingFormatter(logging.Formatter):
    """Formats a record (wire dumps included), then blanks every secret in the result."""

    def __init__(self, secrets: Callable[[], Sequence[str]]) -> None:
        super().__init__("%(asctime)s %(name)s %(levelname)s %(message)s")
        self._secrets = secrets

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record), self._secrets())


def start_logging(verbose: int, debug: bool, secrets: Callable[[], Sequence[str]]) -> logging.Handler | None:
    """-v: msgctl's own INFO lines; -vv: its DEBUG lines; --debug: everything, boto3 and stomp.py too."""
    if not verbose and not debug:
        return None
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter(secrets))
    if debug:
        logging.getLogger().addHandler(handler)
        logging.getLogger().setLevel(logging.DEBUG)
    else:
        msgctl_logger = logging.getLogger("msgctl")
        msgctl_logger.addHandler(handler)
        msgctl_logger.setLevel(logging.INFO if verbose == 1 else logging.DEBUG)
    return handler


def stop_logging(handler: logging.Handler | None) -> None:
    if handler is not None:
        logging.getLogger().removeHandler(handler)
        logging.getLogger("msgctl").removeHandler(handler)
