"""A replay's input, read more than once in bounded memory: a file is read where it is; anything else
(standard input, a channel, envelopes given by a caller) is first spooled to a temporary file."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from msgctl.envelope import Envelope
from msgctl.errors import UsageError

SPOOL_CHUNK = 1 << 20


class ReplayInput:
    """NDJSON lines, numbered from 1. Each ``lines()`` reads them again from the start."""

    def __init__(self, handle: IO[bytes], name: str, path: str) -> None:
        self._handle, self.name, self.path = handle, name, path
        self.notes: list[str] = []  # what reading a channel had to say

    @classmethod
    def of_path(cls, path: Path) -> ReplayInput:
        try:
            return cls(path.expanduser().open("rb"), str(path), str(path.expanduser()))
        except OSError as exc:
            raise UsageError(f"cannot read {path}: {exc.strerror}") from None

    @classmethod
    def of_stream(cls, stream: IO[bytes], name: str = "standard input") -> ReplayInput:
        spooled = cls.spooled(name)
        with _closed_on_error(spooled):
            shutil.copyfileobj(stream, spooled._handle, SPOOL_CHUNK)
        return spooled

    @classmethod
    def of_items(
        cls, items: Iterable[Envelope | str | bytes], name: str = "the envelopes given"
    ) -> ReplayInput:
        """Envelopes or NDJSON lines (one each), spooled."""
        spooled = cls.spooled(name)
        with _closed_on_error(spooled):
            for item in items:
                line = item.dumps() if isinstance(item, Envelope) else item
                data = line.encode() if isinstance(line, str) else line
                spooled._handle.write(data if data.endswith(b"\n") else data + b"\n")
        return spooled

    @classmethod
    def spooled(cls, name: str) -> ReplayInput:
        """An empty temporary file (removed on close), to write the input into."""
        spool = tempfile.NamedTemporaryFile(prefix="msgctl-replay-")  # noqa: SIM115 - closed by close()
        return cls(spool, name, spool.name)

    def append(self, line: str) -> None:
        """One more line at the end (a spooled input only)."""
        self._handle.seek(0, 2)
        self._handle.write(line.encode() + b"\n")
        self._handle.flush()

    def lines(self) -> Iterator[tuple[int, bytes]]:
        self._handle.seek(0)
        return enumerate(self._handle, start=1)

    def read(self, wanted: set[int]) -> dict[int, bytes]:
        """The lines with these numbers."""
        found: dict[int, bytes] = {}
        if not wanted:
            return found
        last = max(wanted)
        for number, line in self.lines():
            if number in wanted:
                found[number] = line
            if number >= last:
                break
        return found

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> ReplayInput:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


@contextlib.contextmanager
def _closed_on_error(spooled: ReplayInput) -> Iterator[None]:
    """Spooling: the file is closed if it fails, flushed (for other processes to read it) if it ends."""
    try:
        yield
    except BaseException:
        spooled.close()
        raise
    spooled._handle.flush()
