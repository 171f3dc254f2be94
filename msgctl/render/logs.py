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


_saved_levels: list[tuple[logging.Logger, int]] = []


def start_logging(verbose: int, debug: bool, secrets: Callable[[], Sequence[str]]) -> logging.Handler | None:
    """-v: msgctl's own INFO lines; -vv: its DEBUG lines; --debug: everything, boto3 and stomp.py too."""
    if not verbose and not debug:
        return None
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter(secrets))
    logger = logging.getLogger() if debug else logging.getLogger("msgctl")
    _saved_levels.append((logger, logger.level))
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if debug or verbose > 1 else logging.INFO)
    return handler


def stop_logging(handler: logging.Handler | None) -> None:
    if handler is None:
        return
    while _saved_levels:
        logger, level = _saved_levels.pop()
        logger.removeHandler(handler)
        logger.setLevel(level)
