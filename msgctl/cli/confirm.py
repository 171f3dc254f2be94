"""Confirmation before a command changes or deletes something: --yes, or yes on the terminal."""

from __future__ import annotations

from collections.abc import Callable

from msgctl.errors import UsageError
from msgctl.render import Renderer


def require_confirmation(renderer: Renderer, yes: bool, question: str, action: str) -> None:
    """Return when --yes was given or the question was answered yes; otherwise say why nothing happened:
    the answer was no, or there is no terminal to ask on. ``action`` names what was not done."""
    if yes:
        return
    answer = renderer.ask(question)
    if answer is None:
        raise UsageError(f"{action} needs confirmation: pass --yes (no terminal to ask on)")
    if not answer:
        raise UsageError(f"{action}: declined at the prompt; nothing changed")


def confirmer(renderer: Renderer, yes: bool, action: str) -> Callable[[str], bool]:
    """The library's ``confirm`` callback: the library asks its question when it knows what it will do."""

    def confirm(question: str) -> bool:
        require_confirmation(renderer, yes, question, action)
        return True

    return confirm
