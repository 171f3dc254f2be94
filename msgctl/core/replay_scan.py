"""Replay's first pass over its input: every line is checked before anything is sent, in bounded memory.

It keeps one byte a line (what the line is) and one hash a message. Repeats of a deduplication id are found
without holding the ids: a bit per hash says which ids may have been seen before; only the lines whose hash
came up twice are read again and compared by their ids. A large file is checked in parallel, a byte range
per process (when nothing has to hear of each message in input order as it goes).
"""

from __future__ import annotations

import gc
import os
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from msgctl import file_ranges
from msgctl.core.replay_input import ReplayInput

# What each line is
MESSAGE, BLANK, PARTIAL, INVALID, FILTERED, REPEATED = range(6)

HASH_BITS = 1 << 27  # 16 MiB: few false alarms below tens of millions of messages, each only read again
BATCH = 1000
MAX_WORKERS = 8


class BadLine(Exception):
    """A line that cannot be replayed; one ``skipped`` is left out even without --skip-invalid."""

    def __init__(self, reason: str, number: int = 0, skipped: bool = False) -> None:
        super().__init__(reason)
        self.reason, self.number, self.skipped = reason, number, skipped


class Checked(Protocol):
    @property
    def line(self) -> int: ...

    @property
    def dedup_id(self) -> str: ...


M = TypeVar("M", bound=Checked)
M_contra = TypeVar("M_contra", bound=Checked, contravariant=True)
# A line's checks: its message, None when the filter leaves it out; BadLine says why it is bad
Check = Callable[[int, bytes], M | None]
Partial = Callable[[bytes], str | None]
OnBatch = Callable[[list[M]], None]  # hears the messages taken, a batch at a time


class Tally(Protocol[M_contra]):
    """What a scan makes of the messages it takes, range by range (``merge`` adds the range after)."""

    def add(self, message: M_contra) -> None: ...

    def merge(self, later: Any, lines_before: int) -> None:
        """Add the tally of the range after this one, whose line numbers begin after ``lines_before``."""


@dataclass(frozen=True)
class ScanRules(Generic[M]):
    """What the scan does with each line, the same in every process."""

    check: Check[M]
    partial_reason: Partial
    skip_invalid: bool = False
    tally: Callable[[], Tally[M]] | None = None
    partial_hint: bytes = b""  # only a line holding these bytes may be a partial-output marker


@dataclass
class Scan:
    """The first pass's findings, up to the last line to replay."""

    kinds: bytearray = field(default_factory=bytearray)  # a line's kind, by its number - 1
    hashes: array[int] = field(default_factory=lambda: array("q"))  # a message's id hash, in input order
    invalid: list[tuple[int, str]] = field(default_factory=list)  # lines skipped (--skip-invalid), why
    partial: str | None = None  # the reason a partial-output marker gives
    settled_late: bool = False  # some message the pass took was found a repeat, or past --max, at the end
    tally: Any = None  # the rules' tally of the messages taken (unless settled_late: those to replay)

    @property
    def last_line(self) -> int:
        return len(self.kinds)

    def count(self, kind: int) -> int:
        return self.kinds.count(kind.to_bytes(1, "big"))

    @property
    def read(self) -> int:
        return self.last_line - self.count(BLANK) - self.count(PARTIAL)

    def extend(self, later: Scan) -> None:
        """Add the scan of the range after this one."""
        offset = self.last_line
        self.kinds += later.kinds
        self.hashes += later.hashes
        self.invalid += [(number + offset, reason) for number, reason in later.invalid]
        self.partial = later.partial if later.partial is not None else self.partial
        if self.tally is not None:
            self.tally.merge(later.tally, offset)


class HashSeen:
    """A bit per hash: False the first time a hash comes, True (maybe a repeat) after."""

    def __init__(self, bits: int = HASH_BITS) -> None:
        self._bits = bytearray(bits // 8)
        self._mask = bits - 1

    def add(self, value: int) -> bool:
        slot = value & self._mask
        index, bit = slot >> 3, 1 << (slot & 7)
        if self._bits[index] & bit:
            return True
        self._bits[index] |= bit
        return False


def scan(
    source: ReplayInput,
    rules: ScanRules[M],
    max_messages: int | None = None,
    on_batch: OnBatch[M] | None = None,
    on_message: Callable[[M], None] | None = None,
    workers: int | None = None,
    lines_through: Callable[[Iterator[tuple[int, bytes]]], Iterator[tuple[int, bytes]]] | None = None,
) -> Scan:
    """Check every line: the first bad one raises BadLine, unless ``rules.skip_invalid`` (then it is
    recorded). ``on_batch`` hears the messages taken a batch at a time, ``on_message`` one at a time (unless
    ``settled_late``, they are the messages to replay: else some are repeats, or past the last line).
    Stops after ``max_messages`` distinct messages. ``lines_through`` sees the lines first (in this
    process: the scan then runs in order)."""
    workers = workers or min(os.cpu_count() or 1, MAX_WORKERS)
    in_order = max_messages is not None or on_batch is not None or on_message is not None
    size = os.path.getsize(source.path)
    if lines_through is not None:
        found = _scan_lines(lines_through(source.lines()), rules, max_messages, on_batch, on_message)
    elif in_order or workers < 2 or size < file_ranges.PARALLEL_MIN_BYTES:
        found = _scan_lines(source.lines(), rules, max_messages, on_batch, on_message)
    else:
        found = _scan_in_ranges(source.path, size, rules, workers)
    maybe = _maybe_repeated(found.hashes)
    if maybe:
        _mark_repeats(source, rules.check, found, maybe)
    if max_messages is not None:
        _cut(found, max_messages)
    return found


def _scan_lines(
    lines: Iterable[tuple[int, bytes]],
    rules: ScanRules[M],
    max_messages: int | None = None,
    on_batch: OnBatch[M] | None = None,
    on_message: Callable[[M], None] | None = None,
) -> Scan:
    found = Scan(tally=rules.tally() if rules.tally is not None else None)
    batches = _Batches(on_batch) if on_batch is not None else None
    hearing = [
        hear
        for hear in (found.tally.add if found.tally else None, on_message, batches.add if batches else None)
        if hear is not None
    ]
    seen = HashSeen(1 << 20) if max_messages is not None else None  # only to know when max is reached
    accepted = alarms = 0
    # Bound once: this loop runs once a line of inputs of millions.
    check, partial_reason, hint, kind_of, hash_of = (
        rules.check,
        rules.partial_reason,
        rules.partial_hint,
        found.kinds.append,
        found.hashes.append,
    )
    for number, line in lines:
        if max_messages is not None and accepted - alarms >= max_messages:
            break  # at least max distinct ones: the repeats among them are settled at the end
        if not line or line.isspace():
            kind_of(BLANK)
            continue
        if hint in line and (partial := partial_reason(line)) is not None:
            found.partial = partial
            kind_of(PARTIAL)
            continue
        try:
            message = check(number, line)
        except BadLine as exc:
            if not rules.skip_invalid and not exc.skipped:
                raise BadLine(exc.reason, number) from None
            found.invalid.append((number, exc.reason))
            kind_of(INVALID)
            continue
        if message is None:
            kind_of(FILTERED)
            continue
        kind_of(MESSAGE)
        value = hash(message.dedup_id)
        hash_of(value)
        for hear in hearing:
            hear(message)
        accepted += 1
        if seen is not None:
            alarms += seen.add(value)
    if batches is not None:
        batches.flush()
    return found


class _Batches(Generic[M]):
    """Hands messages on a batch at a time."""

    def __init__(self, on_batch: OnBatch[M]) -> None:
        self._on_batch, self._messages = on_batch, list[M]()

    def add(self, message: M) -> None:
        self._messages.append(message)
        if len(self._messages) >= BATCH:
            self.flush()

    def flush(self) -> None:
        if self._messages:
            self._on_batch(self._messages)
            self._messages = []


# A range's worker finds its rules here (a forked process inherits them), and answers with its Scan or
# with the bad line that stopped it (numbered within its range).
_RANGE_SCAN: dict[str, Any] = {}
RangeResult = Scan | BadLine


def _scan_in_ranges(path: str, size: int, rules: ScanRules[M], workers: int) -> Scan:
    import multiprocessing

    ranges = file_ranges.byte_ranges(size, workers)
    _RANGE_SCAN.update(path=path, rules=rules)
    try:
        # A worker freezes what it inherits: its collector then leaves those pages unwritten (no copies).
        with multiprocessing.get_context("fork").Pool(len(ranges) - 1, initializer=gc.freeze) as pool:
            others = pool.map_async(_scan_range, ranges[1:])
            first = _scan_range(ranges[0])  # this process takes the first range meanwhile
            results = [first, *others.get()]
    finally:
        _RANGE_SCAN.clear()
    found = Scan(tally=rules.tally() if rules.tally is not None else None)
    for result in results:
        if isinstance(result, BadLine):
            raise BadLine(result.reason, found.last_line + result.number)
        found.extend(result)
    return found


def _scan_range(bounds: tuple[int, int]) -> RangeResult:
    lines = enumerate(file_ranges.range_lines(_RANGE_SCAN["path"], *bounds), start=1)
    try:
        return _scan_lines(lines, _RANGE_SCAN["rules"])
    except BadLine as exc:
        return exc


def _maybe_repeated(hashes: array[int]) -> set[int]:
    """The hashes that come more than once: a bit per hash finds the few slots that may hold two, and a
    second look counts the hashes in those (the bits inline: this runs once a message)."""
    bits, mask = bytearray(HASH_BITS // 8), HASH_BITS - 1
    shared: set[int] = set()
    for value in hashes:
        slot = value & mask
        index, bit = slot >> 3, 1 << (slot & 7)
        if bits[index] & bit:
            shared.add(slot)
        else:
            bits[index] |= bit
    if not shared:
        return set()
    counts = Counter(value for value in hashes if value & mask in shared)
    return {value for value, count in counts.items() if count > 1}


def _mark_repeats(source: ReplayInput, check: Check[M], found: Scan, maybe: set[int]) -> None:
    """Read again the lines whose hash came up more than once; a line whose id an earlier one has is a
    repeat."""
    numbers = (number for number, kind in enumerate(found.kinds, start=1) if kind == MESSAGE)
    wanted = {number for number, value in zip(numbers, found.hashes, strict=True) if value in maybe}
    earlier: set[str] = set()
    for number, line in sorted(source.read(wanted).items()):
        message = check(number, line)
        if message is None:
            continue
        if message.dedup_id in earlier:
            found.kinds[number - 1] = REPEATED
            found.settled_late = True
        else:
            earlier.add(message.dedup_id)


def _cut(found: Scan, max_messages: int) -> None:
    """End the scan at the line of the last message to replay (what comes after is not read)."""
    messages = 0
    for index, kind in enumerate(found.kinds):
        if kind == MESSAGE:
            messages += 1
            if messages == max_messages:
                found.settled_late |= MESSAGE in found.kinds[index + 1 :]
                del found.kinds[index + 1 :]
                found.invalid = [(n, reason) for n, reason in found.invalid if n <= index + 1]
                if found.partial is not None and PARTIAL not in found.kinds:
                    found.partial = None
                return
