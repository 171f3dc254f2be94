"""One process at a time on a journal or a ledger: an exclusive ``flock`` on a ``<file>.lock`` beside it,
held for the run. The kernel lets go of it when the process ends, however it ends (kill -9 included), so
no lock outlives its holder; the holder writes its pid into the file, so a refusal can name it."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

from msgctl.errors import UsageError


class InUseError(UsageError):
    """Another process holds the lock; ``pid`` is that process's, when it could be read."""

    def __init__(self, message: str, pid: int | None) -> None:
        super().__init__(message)
        self.pid = pid


class FileLock:
    """``with FileLock(path, what, by, hint):`` holds the lock on ``path`` or raises ``InUseError``:
    "{what} {path} is in use by {by} (pid N): {hint}"."""

    def __init__(self, path: Path, what: str, by: str, hint: str) -> None:
        self.path, self.what, self.by, self.hint = path, what, by, hint
        self.lock_path = path.with_name(f"{path.name}.lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            self._acquire()
        except OSError as exc:
            raise UsageError(f"cannot use {self.what} {self.path}: {exc.strerror}") from None

    def _acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                pid = _pid_in(fd)
                os.close(fd)
                raise self._in_use(pid) from None
            if _names(self.lock_path, fd):
                break
            os.close(fd)  # its holder removed it as it let go: lock the file that has the name now
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def _in_use(self, pid: int | None) -> InUseError:
        held_by = f"{self.by} (pid {pid})" if pid else self.by
        return InUseError(f"{self.what} {self.path} is in use by {held_by}: {self.hint}", pid)

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            self.lock_path.unlink(missing_ok=True)  # while still held: see the check in acquire
        finally:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.release()


def _names(path: Path, fd: int) -> bool:
    """Whether ``path`` still names the file open as ``fd``."""
    try:
        named = path.stat()
    except FileNotFoundError:
        return False
    opened = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (opened.st_dev, opened.st_ino)


def _pid_in(fd: int) -> int | None:
    text = os.pread(fd, 32, 0).decode(errors="replace").strip()
    return int(text) if text.isdigit() else None
