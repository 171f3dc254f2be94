"""NDJSON envelope scans: the lines of a stream or a file that a policy matches, large files in parallel."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AnyStr, TypeVar

from msgctl import file_ranges
from msgctl.core.payloads import POINTER_MARK, Resolver, failure, may_point, pointer_candidate
from msgctl.envelope import Envelope
from msgctl.errors import UsageError
from msgctl.file_ranges import byte_ranges, range_lines
from msgctl.filter.engine import EnvelopeError, FilterPolicy
from msgctl.filter.messages import message_from_envelope


def select_lines(policy: AnyPolicy, lines: Iterable[AnyStr], invert: bool = False) -> Iterator[AnyStr]:
    """The NDJSON envelope lines the policy matches (or, inverted, does not); a malformed line stops the
    scan with its line number (exit 2). Envelopes are read only as far as the policy needs them."""
    loads = _json_loads()
    keep = not invert
    for number, line in enumerate(lines, start=1):
        try:
            raw = loads(line)
        except ValueError:
            if not line.strip():
                continue
            raw = None
        try:
            if type(raw) is not dict:
                raise UsageError("an envelope must be a JSON object")
            if policy.matches_envelope(raw) is keep:
                yield line
        except (UsageError, EnvelopeError) as exc:
            raise UsageError(f"line {number}: {_reason(exc, raw, line)}") from None


def _reason(exc: Exception, raw: Any, line: str | bytes) -> str:
    """The full envelope reader's explanation of what is wrong with the line."""
    if isinstance(line, bytes):
        try:
            line = line.decode("utf-8")
        except UnicodeDecodeError:
            return "not UTF-8 text"
    try:
        Envelope.from_json(raw) if raw is not None else Envelope.loads(line)
    except UsageError as full:
        return full.message
    return str(exc)


def _json_loads() -> Callable[[str | bytes], Any]:
    try:
        import orjson
    except ImportError:  # orjson is a dependency, but a plain json fallback keeps msgctl working without it
        return json.loads
    return orjson.loads


# Large files are scanned in parallel: each worker takes a byte range of the file (ranges begin after a
# newline) and reads it a line at a time. This process delivers the first range's lines as it decides them;
# the others' kept lines wait in temporary files, delivered after it in file order, so the output is what one
# pass gives and memory does not grow with the file.
_SCAN: dict[str, Any] = {}


@dataclass(frozen=True)
class RangeResult:
    count: int
    kept: str | None = None  # a temporary file of the kept lines (a worker's range)
    error_line: int | None = None  # 1-based within the range
    error: str | None = None


def scan_file(
    policy: FilterPolicy,
    path: str,
    invert: bool = False,
    deliver: Callable[[bytes], None] | None = None,
    workers: int | None = None,
) -> int:
    """How many lines of the file the policy keeps; ``deliver`` gets each kept line, in file order. Raises
    UsageError naming a malformed line (after delivering the kept lines before it)."""
    size = os.path.getsize(path)
    workers = workers or min(os.cpu_count() or 1, 8)
    if size < file_ranges.PARALLEL_MIN_BYTES or workers < 2:
        return _deliver_range(policy, path, 0, size, invert, deliver)
    import multiprocessing

    ranges = byte_ranges(size, workers)
    # The workers' files go in a directory of this call's, removed whatever stops the scan (a bad line in
    # this process's range, a closed pipe, Ctrl-C) even while a worker still writes.
    kept_in = tempfile.mkdtemp(prefix="msgctl-filter-") if deliver is not None else None
    _SCAN.update(policy=policy, path=path, invert=invert, kept_in=kept_in)
    try:
        with multiprocessing.get_context("fork").Pool(len(ranges) - 1) as pool:
            others = pool.map_async(_scan_range, ranges[1:])
            matched = _deliver_range(policy, path, *ranges[0], invert, deliver)
            results = others.get()
        for (start, _), result in zip(ranges[1:], results, strict=True):
            matched += result.count
            if result.kept is not None and deliver is not None:
                with open(result.kept, "rb") as kept:
                    for line in kept:
                        deliver(line)
            if result.error_line is not None:
                raise UsageError(f"line {_lines_up_to(path, start) + result.error_line}: {result.error}")
    finally:
        _SCAN.clear()
        if kept_in is not None:
            shutil.rmtree(kept_in, ignore_errors=True)
    return matched


def _deliver_range(
    policy: FilterPolicy,
    path: str,
    start: int,
    end: int,
    invert: bool,
    deliver: Callable[[bytes], None] | None,
) -> int:
    count = 0
    for line in select_lines(policy, range_lines(path, start, end), invert):
        count += 1
        if deliver is not None:
            deliver(line)
    return count


def _scan_range(bounds: tuple[int, int]) -> RangeResult:
    """A worker's range: its kept lines go to a temporary file."""
    policy, path, invert = _SCAN["policy"], _SCAN["path"], _SCAN["invert"]
    kept_path = None
    if _SCAN["kept_in"] is not None:
        handle, kept_path = tempfile.mkstemp(dir=_SCAN["kept_in"])
        os.close(handle)
    count = 0
    with open(kept_path or os.devnull, "wb") as kept:
        try:
            for line in select_lines(policy, range_lines(path, *bounds), invert):
                count += 1
                kept.write(line)
        except UsageError as exc:
            number, _, reason = exc.message.partition(": ")
            return RangeResult(count, kept_path, int(number.removeprefix("line ")), reason)
    return RangeResult(count, kept_path)


def _lines_up_to(path: str, offset: int) -> int:
    """How many lines end before the range beginning at ``offset`` (only computed to name a bad line)."""
    if offset == 0:
        return 0
    with open(path, "rb") as file:
        data = file.read(offset - 1)
        file.readline()
        return data.count(b"\n") + 1


# What Filters.test reads: a file, NDJSON text, lines of it, or Envelopes and envelope dicts --------------


@dataclass(frozen=True)
class ScanResult:
    """How many items a policy kept (or, inverted, left out), and the items themselves when asked for them,
    as given: NDJSON lines without their newline, Envelopes or envelope dicts."""

    matched: int
    matches: list[Any] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)  # S3 payloads not read: their items matched nothing


class ResolvingPolicy:
    """A body-scope policy that judges an extended-client message by its S3 payload. One whose payload
    cannot be read is kept neither way (its decision is None) and named in ``resolver.failures``."""

    def __init__(self, policy: FilterPolicy, resolver: Resolver) -> None:
        self.policy, self.resolver, self.scope = policy, resolver, policy.scope

    def judge(self, envelope: Envelope) -> bool | None:
        seen = self.resolver.resolve(envelope)
        if failure(seen) is not None:
            return None
        return self.policy.matches(message_from_envelope(seen))

    def matches_envelope(self, raw: dict[str, Any]) -> bool | None:
        body = raw.get("body")
        if type(body) is str and may_point(body):
            return self.judge(Envelope.from_json(raw))
        return self.policy.matches_envelope(raw)

    def prefetch(self, items: Iterable[T]) -> Iterator[T]:
        """The items (NDJSON lines, envelope dicts, Envelopes), the payloads of the pointers among them read
        ahead, several at a time."""
        return self.resolver.prefetch(items, pointer_candidate)


AnyPolicy = FilterPolicy | ResolvingPolicy
T = TypeVar("T")


def scan_source(
    policy: AnyPolicy,
    source: str | os.PathLike[str] | Iterable[Any],
    invert: bool = False,
    keep_matches: bool = True,
    on_match: Callable[[Any], object] | None = None,
) -> ScanResult:
    """Decide every envelope of ``source``: a path, NDJSON text (a str that is blank or begins with "{"),
    an iterable of NDJSON lines, or an iterable of Envelopes and envelope dicts. ``on_match`` sees each kept
    item as soon as it is decided; a malformed envelope stops the scan with its position (exit 2)."""
    kept: list[Any] = []

    def deliver(item: Any) -> None:
        if keep_matches:
            kept.append(item)
        if on_match is not None:
            on_match(item)

    wanted = keep_matches or on_match is not None
    if isinstance(source, os.PathLike) or (isinstance(source, str) and not _is_ndjson_text(source)):
        path = os.fspath(source)
        if isinstance(policy, ResolvingPolicy) and not _holds_pointers(path):
            policy = policy.policy  # nothing to read from S3: the fast scan
        if isinstance(policy, ResolvingPolicy):
            matched = _scan_lines(policy, policy.prefetch(read_lines(path, path)), invert, deliver)
        else:
            matched = _scan_path(policy, path, invert, deliver if wanted else None)
    elif isinstance(source, str):
        lines: Iterable[str] = source.split("\n")
        matched = _scan_lines(
            policy, policy.prefetch(lines) if isinstance(policy, ResolvingPolicy) else lines, invert, deliver
        )
    else:
        items = policy.prefetch(source) if isinstance(policy, ResolvingPolicy) else source
        matched = _scan_items(policy, items, invert, deliver)
    failures = policy.resolver.failures if isinstance(policy, ResolvingPolicy) else []
    return ScanResult(matched, kept, failures)


def _holds_pointers(path: str) -> bool:
    """Whether the file may hold an extended-client pointer (a file that cannot be read says so later)."""
    try:
        with open(path, "rb") as file:
            tail = b""
            while chunk := file.read(1 << 20):
                if POINTER_MARK in tail + chunk:
                    return True
                tail = chunk[-len(POINTER_MARK) :]
    except OSError:
        return True
    return False


def _is_ndjson_text(text: str) -> bool:
    stripped = text.lstrip()
    return not stripped or stripped.startswith("{")


def read_lines(source: str | Iterable[str], name: str) -> Iterator[str]:
    """The lines of a text file (a path) or of an open stream; a read error names the input (exit 2)."""
    try:
        if isinstance(source, str):
            with open(source, encoding="utf-8") as stream:
                yield from stream
        else:
            yield from source
    except OSError as exc:
        raise UsageError(f"cannot read {name}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{name}: the input is not UTF-8 text") from None


def _scan_path(policy: FilterPolicy, path: str, invert: bool, deliver: Callable[[str], None] | None) -> int:
    """A regular file is scanned by byte ranges (lines are decoded only when someone wants them)."""
    if not Path(path).is_file():
        return _scan_lines(policy, read_lines(path, path), invert, deliver or _ignore)
    if deliver is None:
        return scan_file(policy, path, invert)
    text = deliver
    return scan_file(
        policy, path, invert, lambda line: text(line.decode("utf-8", "replace").removesuffix("\n"))
    )


def _scan_lines(policy: AnyPolicy, lines: Iterable[Any], invert: bool, deliver: Callable[[Any], None]) -> int:
    matched = 0
    line: str | bytes
    for line in select_lines(policy, lines, invert):
        matched += 1
        deliver(line[:-1] if line[-1:] in ("\n", b"\n") else line)
    return matched


def _scan_items(policy: AnyPolicy, items: Iterable[Any], invert: bool, deliver: Callable[[Any], None]) -> int:
    iterator = iter(items)
    first = next(iterator, _END)
    if first is _END:
        return 0
    every = itertools.chain([first], iterator)
    if isinstance(first, str | bytes):
        return _scan_lines(policy, every, invert, deliver)
    keep, matched = not invert, 0
    for number, item in enumerate(every, start=1):
        if _item_matches(policy, item, number) is keep:
            matched += 1
            deliver(item)
    return matched


def _item_matches(policy: AnyPolicy, item: Any, number: int) -> bool | None:
    if isinstance(item, Envelope):
        if isinstance(policy, ResolvingPolicy):
            return policy.judge(item)
        return policy.matches(message_from_envelope(item))
    if not isinstance(item, Mapping):
        expected = "expected an Envelope, an envelope dict or an NDJSON line"
        raise UsageError(f"envelope {number}: {expected}, not {type(item).__name__}")
    raw = dict(item)
    try:
        return policy.matches_envelope(raw)
    except EnvelopeError as exc:
        raise UsageError(f"envelope {number}: {_reason(exc, raw, '')}") from None


def _ignore(_: Any) -> None:
    pass


_END = object()
