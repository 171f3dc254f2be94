"""Replay's first pass over its input: every line is checked before anything is sent, in bounded memory.

It keeps one byte a line (what the line is) and one hash a message. Repeats of a deduplication id are found
without holding the ids: a bit per hash says which ids may have been seen before; only the lines whose hash
came up twice are read again and compared by their ids.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from msgctl.core.replay_input import ReplayInput

# What each line is
MESSAGE, BLANK, PARTIAL, INVALID, FILTERED, REPEATED = range(6)

HASH_BITS = 1 << 27  # 16 MiB: few false alarms below tens of millions of messages, each only read again
ID_BATCH = 1000


@dataclass
class Scan:
    """The first pass's findings, up to the last line to replay."""

    kinds: bytearray = field(default_factory=bytearray)  # a line's kind, by its number - 1
    invalid: list[tuple[int, str]] = field(default_factory=list)  # lines skipped (--skip-invalid), why
    partial: str | None = None  # the reason a partial-output marker gives
    settled_late: bool = False  # some message the pass took was found a repeat, or past --max, at the end

    @property
    def last_line(self) -> int:
        return len(self.kinds)

    def count(self, kind: int) -> int:
        return self.kinds.count(kind.to_bytes(1, "big"))

    @property
    def read(self) -> int:
        return self.last_line - self.count(BLANK) - self.count(PARTIAL)


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


class BadLine(Exception):
    """A line that cannot be replayed."""

    def __init__(self, reason: str, number: int = 0) -> None:
        super().__init__(reason)
        self.reason, self.number = reason, number


class Checked(Protocol):
    @property
    def dedup_id(self) -> str: ...


M = TypeVar("M", bound=Checked)
# A line's checks: its message, None when the filter leaves it out; BadLine says why it is bad
Check = Callable[[int, bytes], M | None]
Partial = Callable[[bytes], str | None]
OnIds = Callable[[list[str]], None]


def scan(
    source: ReplayInput,
    check: Check[M],
    partial_reason: Partial,
    max_messages: int | None = None,
    on_ids: OnIds | None = None,
    skip_invalid: bool = False,
    on_message: Callable[[M], None] | None = None,
) -> Scan:
    """Check every line: the first bad one raises BadLine, unless ``skip_invalid`` (then it is recorded).
    ``on_ids`` hears the deduplication ids a batch at a time, ``on_message`` each message taken (unless
    ``settled_late``, they are the messages to replay). Stops after ``max_messages`` distinct messages."""
    found = Scan()
    hashes = array("q")
    seen, maybe = HashSeen(), set[int]()
    accepted = alarms = 0
    ids: list[str] = []
    for number, line in source.lines():
        if max_messages is not None and accepted - alarms >= max_messages:
            break  # at least max distinct ones: the repeats among them are settled below
        kind = _kind(line, partial_reason, found)
        if kind == MESSAGE:
            try:
                message = check(number, line)
            except BadLine as exc:
                if not skip_invalid:
                    raise BadLine(exc.reason, number) from None
                found.invalid.append((number, exc.reason))
                kind = INVALID
            else:
                if message is None:
                    kind = FILTERED
                else:
                    accepted += 1
                    dedup_id = message.dedup_id
                    if on_message is not None:
                        on_message(message)
                    value = hash(dedup_id)
                    hashes.append(value)
                    if seen.add(value):
                        maybe.add(value)
                        alarms += 1
                    if on_ids is not None:
                        ids.append(dedup_id)
                        if len(ids) >= ID_BATCH:
                            on_ids(ids)
                            ids = []
        found.kinds.append(kind)
    if ids and on_ids is not None:
        on_ids(ids)
    if maybe:
        _mark_repeats(source, check, found, hashes, maybe)
    if max_messages is not None:
        _cut(found, max_messages)
    return found


def _kind(line: bytes, partial_reason: Partial, found: Scan) -> int:
    if not line.strip():
        return BLANK
    partial = partial_reason(line)
    if partial is not None:
        found.partial = partial
        return PARTIAL
    return MESSAGE


def _mark_repeats(
    source: ReplayInput, check: Check[M], found: Scan, hashes: array[int], maybe: set[int]
) -> None:
    """Read again the lines whose hash came up more than once; a line whose id an earlier one has is a
    repeat."""
    numbers = (number for number, kind in enumerate(found.kinds, start=1) if kind == MESSAGE)
    wanted = {number for number, value in zip(numbers, hashes, strict=True) if value in maybe}
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
