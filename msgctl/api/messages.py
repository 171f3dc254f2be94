"""Reading messages without consuming them (tail, export) as an iterator of envelopes that releases what
it holds when it ends, when the ``with`` block is left, or when ``close`` is called."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from inspect import GEN_SUSPENDED, getgeneratorstate
from types import GeneratorType, TracebackType

from msgctl.core.payloads import Resolver
from msgctl.core.tail import TailOptions, TailReport, TailSource, tail
from msgctl.envelope import Envelope


class MessageStream:
    """Envelopes of one channel. After the stream ends, ``report`` says how many were shown and skipped,
    and ``partial`` why the read could not see every message (None when it saw all); ``unresolved`` names
    each S3 payload that could not be read (its message came as the pointer it is)."""

    def __init__(
        self,
        source: TailSource,
        options: TailOptions,
        stop_requested: Callable[[], bool] = lambda: False,
        resolver: Resolver | None = None,
    ) -> None:
        self.report = TailReport()
        self._source, self._options, self._stop_requested = source, options, stop_requested
        self._resolver = resolver
        self._closed = False
        self._envelopes: Iterator[Envelope] | None = None

    @property
    def partial(self) -> str | None:
        return self.report.partial

    @property
    def unresolved(self) -> list[str]:
        return self.report.unresolved

    @property
    def interrupted(self) -> bool:
        return "interrupted" in self.report.notes

    def __iter__(self) -> Iterator[Envelope]:
        if self._envelopes is None:
            self._envelopes = self._read()
        return self._envelopes

    def _read(self) -> Iterator[Envelope]:
        try:
            yield from tail(self._source, self._options, self.report, self._stop_requested, self._resolver)
        except KeyboardInterrupt:
            self.report.notes.append("interrupted")
            raise
        finally:
            self.close()

    def close(self) -> None:
        """Release or remove what the read holds (SQS messages it received, an ephemeral queue)."""
        if not self._closed:
            self._closed = True
            envelopes = self._envelopes
            if isinstance(envelopes, GeneratorType) and getgeneratorstate(envelopes) == GEN_SUSPENDED:
                envelopes.close()  # (its reading ahead stops; its own end calls this close again)
            self._source.close(self.report)

    def __enter__(self) -> MessageStream:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()
