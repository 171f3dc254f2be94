"""Progress bars on stderr, drawn only on a terminal (and not with -q)."""

from __future__ import annotations

from types import TracebackType
from typing import Any

from msgctl.core.progress import ProgressEvent
from msgctl.render import Renderer


class Progress:
    def __init__(self, renderer: Renderer, description: str, total: int | None) -> None:
        self._bar: Any = None
        self._task: Any = None
        terminal = bool(getattr(renderer.stderr, "isatty", lambda: False)())
        if terminal and not renderer.quiet:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TimeElapsedColumn,
            )
            from rich.progress import (
                Progress as RichProgress,
            )

            console = Console(file=renderer.stderr, no_color=not renderer.color)
            self._bar = RichProgress(
                "[progress.description]{task.description}",
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            )
            self._task = self._bar.add_task(description, total=total)

    def __enter__(self) -> Progress:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._bar is not None:
            self._bar.stop()

    def advance(self, count: int) -> None:
        if self._bar is not None:
            self._bar.advance(self._task, count)

    def update(self, completed: int, total: int | None = None) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=completed, total=total)


class ProgressBar:
    """The library's ``on_progress`` callback drawn as a bar: opened at the first event (whose label names
    what moves where), closed when the ``with`` block ends."""

    def __init__(self, renderer: Renderer) -> None:
        self._renderer = renderer
        self._progress: Progress | None = None

    def __call__(self, event: ProgressEvent) -> None:
        if self._progress is None:
            self._progress = Progress(self._renderer, event.label, event.total).__enter__()
        self._progress.update(event.done, event.total)

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._progress is not None:
            self._progress.__exit__(kind, value, trace)
