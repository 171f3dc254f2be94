"""NDJSON envelope scans: the lines of a stream or a file that a policy matches, large files in parallel."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, AnyStr

from msgctl.envelope import Envelope
from msgctl.errors import UsageError
from msgctl.filter.engine import EnvelopeError, FilterPolicy


def select_lines(policy: FilterPolicy, lines: Iterable[AnyStr], invert: bool = False) -> Iterator[AnyStr]:
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
# newline), and the parent writes the workers' results in file order, so the output is what one pass gives.
PARALLEL_MIN_BYTES = 4 * 1024 * 1024
_SCAN: dict[str, Any] = {}


@dataclass(frozen=True)
class RangeResult:
    count: int
    lines: list[str]
    error_line: int | None = None  # 1-based within the range
    error: str | None = None


def scan_file(
    policy: FilterPolicy, path: str, invert: bool = False, keep_lines: bool = True, workers: int | None = None
) -> Iterator[RangeResult]:
    """Results per byte range of the file, in file order; raises UsageError naming a malformed line."""
    import os

    size = os.path.getsize(path)
    workers = workers or min(os.cpu_count() or 1, 8)
    if size < PARALLEL_MIN_BYTES or workers < 2:
        yield _scan_range_with(policy, path, 0, size, invert, keep_lines)
        return
    import multiprocessing

    step = size // workers + 1
    ranges = [(start, min(start + step, size)) for start in range(0, size, step)]
    _SCAN.update(policy=policy, path=path, invert=invert, keep_lines=keep_lines)
    try:
        with multiprocessing.get_context("fork").Pool(len(ranges) - 1) as pool:
            others = pool.map_async(_scan_range, ranges[1:])
            first = _scan_range(ranges[0])  # this process takes the first range meanwhile
            results = [first, *others.get()]
    finally:
        _SCAN.clear()
    for (start, _), result in zip(ranges, results, strict=True):
        if result.error_line is not None:
            raise UsageError(f"line {_lines_up_to(path, start) + result.error_line}: {result.error}")
        yield result


def _scan_range(bounds: tuple[int, int]) -> RangeResult:
    return _scan_range_with(_SCAN["policy"], _SCAN["path"], *bounds, _SCAN["invert"], _SCAN["keep_lines"])


def _scan_range_with(
    policy: FilterPolicy, path: str, start: int, end: int, invert: bool, keep_lines: bool
) -> RangeResult:
    """Decide the lines that begin in [start, end)."""
    kept: list[str] = []
    count = 0
    with open(path, "rb") as file:
        if start:
            file.seek(start - 1)
            file.readline()  # the line under way at `start` belongs to the previous range
        position = file.tell()
        data = file.read(max(0, end - position)) if position < end else b""
        if data and not data.endswith(b"\n"):
            data += file.readline()  # finish the last line that begins in this range
    try:
        for line in select_lines(policy, data.splitlines(keepends=True), invert):
            count += 1
            if keep_lines:
                kept.append(line.decode("utf-8", errors="replace"))
    except UsageError as exc:
        number, _, reason = exc.message.partition(": ")
        return RangeResult(count, kept, int(number.removeprefix("line ")), reason)
    return RangeResult(count, kept)


def _lines_up_to(path: str, offset: int) -> int:
    """How many lines end before the range beginning at ``offset`` (only computed to name a bad line)."""
    if offset == 0:
        return 0
    with open(path, "rb") as file:
        data = file.read(offset - 1)
        file.readline()
        return data.count(b"\n") + 1
