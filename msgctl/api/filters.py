"""``Client.filters``."""

from __future__ import annotations

from collections.abc import Callable

from msgctl.backends.registry import Backends


class Filters:
    def __init__(self, backends: Backends, warn: Callable[[str], None]) -> None:
        self.backends, self.warn = backends, warn
