"""Exit codes and the error types that map onto them.

Every failure msgctl reports is a ``MsgctlError``; the CLI prints its message on one line and exits
with its code. ``code`` names the broker's own error code (AWS or STOMP) when there is one.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1
    USAGE = 2
    PARTIAL = 3
    NOT_FOUND = 4
    ACCESS_DENIED = 5
    INTERRUPTED = 130

    @property
    def meaning(self) -> str:
        return _MEANINGS[self]


_MEANINGS = {
    ExitCode.OK: "ok",
    ExitCode.FAILED: "the operation failed",
    ExitCode.USAGE: "usage error or bad input",
    ExitCode.PARTIAL: "partial success: some messages failed",
    ExitCode.NOT_FOUND: "channel not found",
    ExitCode.ACCESS_DENIED: "access denied",
    ExitCode.INTERRUPTED: "interrupted",
}


class MsgctlError(Exception):
    exit_code: ExitCode = ExitCode.FAILED
    # Set by a library call that failed part-way: what it had done (its result so far), and what to do next.
    result: object | None = None
    note: str | None = None

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code

    def __str__(self) -> str:
        return f"{self.message} ({self.code})" if self.code else self.message


class UsageError(MsgctlError):
    exit_code = ExitCode.USAGE


class NotFoundError(MsgctlError):
    exit_code = ExitCode.NOT_FOUND


class AccessDeniedError(MsgctlError):
    exit_code = ExitCode.ACCESS_DENIED


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (or the CLI's SIGTERM) stopped a library call. It is still a KeyboardInterrupt; ``note`` says
    what state the call left (what was released, which journal finishes the work), ``result`` holds what was
    done so far where the call has one."""

    def __init__(self, note: str, result: object | None = None) -> None:
        super().__init__(note)
        self.note, self.result = note, result


class NativeMoveInterrupted(Interrupted):
    """Ctrl-C while an SQS move task runs: the task goes on inside SQS until cancelled (``handle``)."""

    def __init__(self, dlq: str, handle: str) -> None:
        super().__init__(f"the move task goes on: msgctl dlq status {dlq}; msgctl dlq cancel {dlq}")
        self.dlq, self.handle = dlq, handle
