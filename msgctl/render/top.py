"""top's live screen: a table of every channel, redrawn each sample, sorted and filtered from the keyboard."""

from __future__ import annotations

import os
import select
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, Any

from msgctl.api.top import SORT_KEYS, SortKey, TopRow, sort_value
from msgctl.render import Renderer, _cell
from msgctl.render.health import STYLES

SPARK = "▁▂▃▄▅▆▇█"
HISTORY = 60  # samples of depth kept for the sparkline
COLUMNS = (
    "channel",
    "depth",
    "in_flight",
    "rate_in",
    "rate_out",
    "oldest_age_s",
    "dlq",
    "consumers",
    "trend",
)
HELP = "q quits · s sorts · / filters by name"


def sparkline(values: list[int]) -> str:
    if not values:
        return ""
    low, high = min(values), max(values)
    span = (high - low) or 1
    return "".join(SPARK[(v - low) * (len(SPARK) - 1) // span] if high > low else SPARK[0] for v in values)


class TopView:
    """What the screen shows: the sort, the name filter (typed after /), each channel's recent depths."""

    def __init__(self, sort: SortKey) -> None:
        self.sort, self.filter = sort, ""
        self.typing: str | None = None  # the filter being typed
        self.history: dict[str, deque[int]] = {}

    def add(self, rows: list[TopRow]) -> None:
        for row in rows:
            if row.depth is not None:
                self.history.setdefault(row.channel, deque(maxlen=HISTORY)).append(row.depth)

    def key(self, char: str) -> bool:
        """Take one key; False: quit."""
        if self.typing is not None:
            if char in ("\r", "\n"):
                self.filter, self.typing = self.typing, None
            elif char == "\x1b":
                self.typing = None
            elif char in ("\x7f", "\b"):
                self.typing = self.typing[:-1]
            elif char.isprintable():
                self.typing += char
            return True
        if char in ("q", "Q"):
            return False
        if char == "s":
            self.sort = SORT_KEYS[(SORT_KEYS.index(self.sort) + 1) % len(SORT_KEYS)]
        elif char == "/":
            self.typing = ""
        return True

    def table(self, rows: list[TopRow], taken: float) -> Any:
        from rich.table import Table

        shown = [r for r in rows if self.filter in r.channel]
        shown.sort(key=lambda r: (sort_value(r, self.sort), r.channel), reverse=True)
        prompt = f"  filter: {self.typing}_" if self.typing is not None else ""
        title = f"msgctl top · {time.strftime('%H:%M:%S', time.localtime(taken))} · sort: {self.sort}"
        title += f" · filter: {self.filter!r}" if self.filter else ""
        grid = Table(title=title, caption=HELP + prompt, expand=False)
        for column in COLUMNS:
            grid.add_column(column.upper(), justify="left" if column in ("channel", "trend") else "right")
        for row in shown:
            grid.add_row(*_cells(row, self.history.get(row.channel)), style=STYLES[row.status])
        return grid


def _cells(row: TopRow, history: deque[int] | None) -> list[str]:
    values = row.to_json()
    rate_in = _cell(values["rate_in"]) + (" net" if row.rates == "net" and row.rate_in is not None else "")
    return [
        row.channel,
        _cell(row.depth),
        _cell(row.in_flight),
        rate_in,
        _cell(values["rate_out"]),
        _cell(row.oldest_age_s),
        _cell(row.dlq_depth),
        _cell(row.consumers),
        sparkline(list(history or [])),
    ]


def live(renderer: Renderer, sample: Callable[[], list[TopRow]], interval_s: float, view: TopView) -> None:
    """Redraw every ``interval_s`` until q, Ctrl-C or SIGTERM; the terminal is restored in every case."""
    from rich.console import Console
    from rich.live import Live

    console = Console(file=renderer.stdout, no_color=not renderer.color, emoji=False, highlight=False)
    with keys(sys.stdin) as read_key, Live(console=console, auto_refresh=False, screen=True) as screen:
        while True:
            rows = sample()
            taken = time.time()
            view.add(rows)
            screen.update(view.table(rows, taken), refresh=True)
            deadline = time.monotonic() + interval_s
            while (left := deadline - time.monotonic()) > 0:
                char = read_key(left)
                if char is None:
                    continue
                if not view.key(char):
                    return
                screen.update(view.table(rows, taken), refresh=True)


@contextmanager
def keys(stream: IO[str]) -> Iterator[Callable[[float], str | None]]:
    """Single keys from a terminal (cbreak mode, restored on the way out); without one, only the wait."""
    if not stream.isatty():

        def wait(seconds: float) -> str | None:
            time.sleep(seconds)
            return None

        yield wait
        return
    import termios
    import tty

    fd = stream.fileno()
    saved = termios.tcgetattr(fd)
    tty.setcbreak(fd)
    try:

        def read(seconds: float) -> str | None:
            ready, _, _ = select.select([fd], [], [], seconds)
            return os.read(fd, 1).decode("utf-8", "replace") if ready else None

        yield read
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
