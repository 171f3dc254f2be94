"""A large file read in parallel: byte ranges that begin after a newline, each read a line at a time."""

from __future__ import annotations

from collections.abc import Iterator

PARALLEL_MIN_BYTES = 4 * 1024 * 1024  # below this, one process reads the file faster than several


def byte_ranges(size: int, parts: int) -> list[tuple[int, int]]:
    step = size // parts + 1
    return [(start, min(start + step, size)) for start in range(0, size, step)]


def range_lines(path: str, start: int, end: int) -> Iterator[bytes]:
    """The lines that begin in [start, end), read as they go."""
    with open(path, "rb") as file:
        if start:
            file.seek(start - 1)
            file.readline()  # the line under way at `start` belongs to the previous range
        position = file.tell()
        for line in file:
            if position >= end:
                return
            position += len(line)
            yield line
