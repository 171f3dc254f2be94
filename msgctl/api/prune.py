"""Keeping the state files small: forget what finished redrives recorded in a journal, and what a replay
ledger holds as sent long ago. Each file is locked as a run locks it, so nothing runs on it meanwhile."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from msgctl.address import Channel
from msgctl.backends.registry import Backends
from msgctl.core.file_lock import FileLock
from msgctl.core.journal import UNFINISHED, Journal, State
from msgctl.core.ledger import Ledger
from msgctl.core.outbound import DEDUP_MARGIN_S, DEDUP_WINDOW_S
from msgctl.core.state_paths import default_journal, default_ledger
from msgctl.core.store import tables_in
from msgctl.errors import UsageError

RECENT_S = DEDUP_WINDOW_S + DEDUP_MARGIN_S  # entries this young are what tells a FIFO target's drop


@dataclass
class PruneResult:
    """``pruned`` and ``kept``: entries by state; the file's bytes on disk before and after."""

    kind: str  # journal or ledger
    path: Path
    pruned: dict[str, int] = field(default_factory=dict)
    kept: dict[str, int] = field(default_factory=dict)
    bytes_before: int = 0
    bytes_after: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def document(self) -> dict[str, Any]:
        return {
            self.kind: str(self.path),
            "pruned": sum(self.pruned.values()),
            "pruned_by_state": dict(sorted(self.pruned.items())),
            "kept_by_state": dict(sorted(self.kept.items())),
            "bytes_before": self.bytes_before,
            "bytes_after": self.bytes_after,
        }

    @property
    def summary(self) -> str:
        return (
            f"pruned {sum(self.pruned.values())} entries of {self.path}, kept {sum(self.kept.values())}; "
            f"{self.bytes_before} -> {self.bytes_after} bytes"
        )


def prune_journal(journal: Path | None, dlq: Channel | None, older_than_s: float | None) -> PruneResult:
    """Forget the finished entries of a redrive journal (``journal``, or the default one of ``dlq``) last
    changed more than ``older_than_s`` ago (None: any). Never the unfinished ones (held, received, sent), nor
    those a target confirmed less than 5 minutes ago; while a resume is pending, not the deleted and copied
    ones it reads; without ``older_than_s``, not a --copy journal's record of what it copied."""
    _not_negative(older_than_s)
    path = _journal_path(journal, dlq)
    _existing(path, "messages", "a redrive journal", f" (the default journal of {dlq})" if dlq else "")
    with FileLock(path, "the journal", "a redrive", "prune it once that ends"):
        book = Journal(path)
        try:
            result = PruneResult("journal", path, bytes_before=book.size())
            keep = _journal_keeps(book.counts(), older_than_s, result.notes)
            now = time.time()
            result.pruned = book.prune(now - (older_than_s or 0), now - RECENT_S, keep)
            _finish(book, result)
        finally:
            book.close()
    return result


def _journal_path(journal: Path | None, dlq: Channel | None) -> Path:
    if journal is not None and dlq is None:
        return journal
    if dlq is not None and journal is None:
        return default_journal(dlq)
    raise UsageError("pass the journal file (--journal) or the DLQ whose default journal it is (--dlq)")


def _journal_keeps(counts: dict[str, int], older_than_s: float | None, notes: list[str]) -> tuple[State, ...]:
    if any(counts.get(state) for state in UNFINISHED):
        notes.append("it holds an unfinished redrive: its deleted and copied entries stay for --resume")
        return ("deleted", "copied")
    if older_than_s is None and counts.get("copied"):
        notes.append("copied entries stay (a rerun of the copy skips them): --older-than prunes them too")
        return ("copied",)
    return ()


def prune_ledger(backends: Backends, to: Channel, ledger: Path | None, older_than_s: float) -> PruneResult:
    """Forget what the target's ledger (or ``ledger``) holds as sent more than ``older_than_s`` ago (never
    less than 5 minutes ago): a later replay sends those again. ``sending`` entries stay."""
    _not_negative(older_than_s)
    _, target_key = backends.outbound_target(to)
    path = ledger or default_ledger(target_key)
    _existing(path, "replayed", "a replay ledger", "" if ledger else f" (the ledger of {to})")
    with FileLock(path, "the ledger", "a replay", "prune it once that ends"):
        book = Ledger(path)
        try:
            recorded = book.meta("target")
            if recorded not in (None, target_key):
                raise UsageError(f"{path} is the ledger of {recorded}, not of {target_key}")
            result = PruneResult("ledger", path, bytes_before=book.size())
            now = time.time()
            result.pruned = {"sent": book.prune(min(now - older_than_s, now - RECENT_S))}
            _finish(book, result)
        finally:
            book.close()
    return result


def _not_negative(seconds: float | None) -> None:
    if seconds is not None and seconds < 0:
        raise UsageError(f"the age to prune from must not be negative: {seconds} s")


def _existing(path: Path, table: str, what: str, which: str) -> None:
    """Refuse, changing nothing, a file that is not there or is not what it should be."""
    if not path.is_file():
        raise UsageError(f"no such file: {path}{which}")
    if table not in tables_in(path):
        raise UsageError(f"{path} is not {what}")


def _finish(book: Journal | Ledger, result: PruneResult) -> None:
    if sum(result.pruned.values()):
        book.compact()
    result.kept = book.counts()
    result.bytes_after = book.size()
