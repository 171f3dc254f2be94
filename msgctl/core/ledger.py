"""The replay ledger: an SQLite file, one per target, that records each deduplication id as ``sending``
before its send and ``sent`` once the target confirmed it, with the id the target gave the message. A rerun
skips what was sent; what was under way when a run died is sent again (and named, unless the target drops
the resend itself); a forced resend the target answers with the recorded id was dropped by the target."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from msgctl.core.store import Store

LedgerState = Literal["sending", "sent"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS replayed (
    dedup_id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    message_id TEXT,
    line INTEGER,
    updated_at REAL NOT NULL,
    target_id TEXT
);
"""


@dataclass(frozen=True)
class LedgerEntry:
    dedup_id: str
    state: LedgerState
    updated_at: float
    target_id: str | None = None  # what the target answered for the send that made it ``sent``


class Ledger(Store):
    def __init__(self, path: Path) -> None:
        super().__init__(path, SCHEMA)
        self._add_column("replayed", "target_id", "TEXT")  # a ledger written before it had one
        self._add_column("replayed", "repair", "TEXT")

    def entries(self, dedup_ids: Iterable[str]) -> dict[str, LedgerEntry]:
        rows = self._select_in(
            "SELECT dedup_id, state, updated_at, target_id FROM replayed WHERE dedup_id IN ({})",
            list(dedup_ids),
        )
        return {
            str(row[0]): LedgerEntry(str(row[0]), row[1], float(row[2]), row[3])  # type: ignore[arg-type]
            for row in rows
        }

    def sending(self, messages: Iterable[tuple[str, str, int, str | None]]) -> None:
        """(dedup id, message id, input line, repair) about to be sent; ``repair``: short hashes of the
        program, the message before and after it, for a repaired one. An entry keeps what its first send
        recorded: a ``sent`` one stays ``sent`` (--force); a ``sending`` one keeps its time, as a FIFO
        target's deduplication window runs from the first send."""
        now = time.time()
        self._write(
            """INSERT INTO replayed(dedup_id, state, message_id, line, updated_at, repair)
               VALUES (?, 'sending', ?, ?, ?, ?)
               ON CONFLICT(dedup_id) DO NOTHING""",
            [(dedup_id, message_id, line, now, repair) for dedup_id, message_id, line, repair in messages],
        )

    def sent(self, confirmed: Iterable[tuple[str, str | None]]) -> None:
        """(dedup id, the id the target gave the message, when it said) the target confirmed."""
        self._write(
            "UPDATE replayed SET state = 'sent', updated_at = ?, target_id = ? WHERE dedup_id = ?",
            [(time.time(), target_id, dedup_id) for dedup_id, target_id in confirmed],
        )

    def forget(self, dedup_ids: Iterable[str]) -> None:
        """The target refused them: nothing was sent, a rerun sends them again."""
        self._write(
            "DELETE FROM replayed WHERE dedup_id = ? AND state = 'sending'", [(i,) for i in dedup_ids]
        )

    def sent_since(self, since: float) -> bool:
        """Whether the target confirmed any send after ``since``."""
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM replayed WHERE state = 'sent' AND updated_at > ? LIMIT 1", (since,)
            ).fetchone()
        return row is not None

    def prune(self, before: float) -> int:
        """Forget the messages the target confirmed before ``before`` (a later replay sends them again); the
        ``sending`` ones stay, as they name possible duplicates. Returns how many went."""
        with self._transaction() as db:
            deleted = db.execute("DELETE FROM replayed WHERE state = 'sent' AND updated_at < ?", (before,))
            return deleted.rowcount

    def counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute("SELECT state, COUNT(*) FROM replayed GROUP BY state").fetchall()
        return {str(state): int(count) for state, count in rows}
