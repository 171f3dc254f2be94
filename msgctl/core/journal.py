"""The redrive journal: an SQLite file that records each message's state before each step, so a crash,
kill -9 or Ctrl-C can be finished with --resume without losing a message or resending a confirmed one."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from msgctl.core.store import Store

State = Literal[
    "held", "received", "sent", "copied", "deleted", "failed", "released", "deduplicated", "earlier"
]
# held: received from the DLQ, not (yet) being sent; received: being sent; sent: the target confirmed it;
# copied: the target confirmed a --copy (the DLQ keeps it); deleted: gone from the DLQ; failed: the target
# refused it; released: made visible in the DLQ again; deduplicated: the target dropped the send as a
# resend of an earlier send (the DLQ keeps it); earlier: sent to the same target by an earlier, finished run,
# kept for the id the target gave it. held, received and sent mean a run did not finish.
UNFINISHED: tuple[State, ...] = ("held", "received", "sent")
FINISHED: tuple[State, ...] = ("copied", "deleted", "failed", "released", "deduplicated", "earlier")
WITH_RECEIPT: tuple[State, ...] = (*UNFINISHED, "copied")  # a resume deletes or releases with the receipt

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    message_id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    receipt TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    detail TEXT,
    updated_at REAL NOT NULL,
    target_id TEXT,
    sent_at REAL
);
CREATE TABLE IF NOT EXISTS receipts (message_id TEXT PRIMARY KEY, receipt TEXT NOT NULL);
"""
# A receipt (an SQS receipt handle is several hundred bytes, most of an entry) is kept in a table of its
# own while a resume may need it, and removed once the message is done with: the entries keep their size,
# so finished ones do not leave the file's pages mostly empty. ``messages.receipt`` is from older versions.
COLUMNS = "m.message_id, m.state, r.receipt, m.attempts, m.detail, m.target_id, m.sent_at"
FROM = "messages m LEFT JOIN receipts r ON r.message_id = m.message_id"
KEEP_RECEIPT = "INSERT OR REPLACE INTO receipts(message_id, receipt) VALUES (?, ?)"


@dataclass(frozen=True)
class Entry:
    message_id: str
    state: State
    receipt: str | None
    attempts: int
    detail: str | None
    target_id: str | None = None  # the id the target gave the message it confirmed
    sent_at: float | None = None  # when the target confirmed it (None in a journal older than the column)

    def confirmed_since(self, since: float) -> bool:
        """The target confirmed a send of this message after ``since`` (unknown when, in a journal older than
        the column: taken as recent, which only holds a message back)."""
        return self.target_id is not None and (self.sent_at is None or self.sent_at > since)


class Journal(Store):
    """Thread-safe; every method commits before it returns (WAL mode: a killed process loses nothing)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, SCHEMA)
        self._add_column("messages", "target_id", "TEXT")  # a journal written before it had one
        self._add_column("messages", "sent_at", "REAL")
        self._add_column("messages", "repair", "TEXT")
        self._move_receipts()

    def _move_receipts(self) -> None:
        """A journal written before receipts had a table of their own: move them there."""
        with self._transaction() as db:
            if db.execute("SELECT 1 FROM messages WHERE receipt IS NOT NULL LIMIT 1").fetchone():
                db.execute(
                    "INSERT OR REPLACE INTO receipts SELECT message_id, receipt FROM messages "
                    "WHERE receipt IS NOT NULL AND state IN ('held', 'received', 'sent', 'copied')"
                )
                db.execute("UPDATE messages SET receipt = NULL WHERE receipt IS NOT NULL")

    def held(self, messages: Iterable[tuple[str, str]]) -> None:
        """Right after a receive: the receipt handles, so a resume can release what a crash left held."""
        now, pairs = time.time(), list(messages)
        self._write_all(
            [
                (
                    """INSERT INTO messages(message_id, state, attempts, updated_at) VALUES (?, 'held', 0, ?)
                       ON CONFLICT(message_id) DO UPDATE SET updated_at = excluded.updated_at""",
                    [(message_id, now) for message_id, _ in pairs],
                ),
                (KEEP_RECEIPT, pairs),
            ]
        )

    def received(self, messages: Iterable[tuple[str, str]]) -> None:
        """(message id, receipt handle) pairs about to be sent; a message already sent or copied keeps that
        state."""
        now, pairs = time.time(), list(messages)
        self._write_all(
            [
                (
                    """INSERT INTO messages(message_id, state, attempts, updated_at)
                       VALUES (?, 'received', 1, ?)
                       ON CONFLICT(message_id) DO UPDATE SET
                         attempts = messages.attempts + 1,
                         updated_at = excluded.updated_at,
                         state = CASE WHEN messages.state IN ('sent', 'deleted', 'copied') THEN messages.state
                                      ELSE 'received' END""",
                    [(message_id, now) for message_id, _ in pairs],
                ),
                (KEEP_RECEIPT, pairs),
            ]
        )

    def mark(self, message_ids: Iterable[str], state: State, detail: str | None = None) -> None:
        now, ids = time.time(), list(message_ids)
        self._write_all(
            [
                (
                    "UPDATE messages SET state = ?, detail = COALESCE(?, detail), updated_at = ? "
                    "WHERE message_id = ?",
                    [(state, detail, now, message_id) for message_id in ids],
                ),
                (
                    "DELETE FROM receipts WHERE message_id = ?",
                    [] if state in WITH_RECEIPT else [(message_id,) for message_id in ids],
                ),
            ]
        )

    def released(self, message_ids: Iterable[str]) -> None:
        """Made visible in the DLQ again: what the target confirmed keeps that state (a resume must delete a
        sent one without sending it again, and not copy a copied one again)."""
        now, ids = time.time(), list(message_ids)
        self._write_all(
            [
                (
                    "UPDATE messages SET state = 'released', updated_at = ? "
                    "WHERE message_id = ? AND state NOT IN ('sent', 'deleted', 'copied')",
                    [(now, message_id) for message_id in ids],
                ),
                (
                    "DELETE FROM receipts WHERE message_id = ? "
                    "AND (SELECT state FROM messages WHERE message_id = ?) = 'released'",
                    [(message_id, message_id) for message_id in ids],
                ),
            ]
        )

    def repaired(self, hashes: Iterable[tuple[str, str]]) -> None:
        """(message id, "BEFORE AFTER"): short hashes of the message as read and as the program repaired it
        (the program's text is in the meta table)."""
        self._write("UPDATE messages SET repair = ? WHERE message_id = ?", [(h, i) for i, h in hashes])

    def repairs(self) -> dict[str, str]:
        with self._lock:
            rows = self._db.execute("SELECT message_id, repair FROM messages WHERE repair IS NOT NULL")
            return {str(message_id): str(repair) for message_id, repair in rows.fetchall()}

    def target_ids(self, confirmed: Iterable[tuple[str, str]]) -> None:
        """(message id, the id the target gave it) for what the target confirmed, now."""
        now = time.time()
        self._write(
            "UPDATE messages SET target_id = ?, sent_at = ? WHERE message_id = ?",
            [(target_id, now, message_id) for message_id, target_id in confirmed],
        )

    def keep_recent_sends(self, since: float) -> int:
        """Forget every message but those the target confirmed since ``since`` and the DLQ kept (copies),
        with the ids the target gave them: a new run to the same target can then tell a send the target
        drops as a resend. Returns how many are kept."""
        with self._transaction() as db:
            # Moved ones too: one back in the DLQ under the same id would be dropped by a FIFO target.
            db.execute(
                "DELETE FROM messages WHERE target_id IS NULL OR COALESCE(sent_at, updated_at) < ?",
                (since,),
            )
            # That run is over: nothing it did counts as sent by this one (never delete a message unsent).
            db.execute("UPDATE messages SET state = 'earlier', detail = NULL")
            db.execute("DELETE FROM receipts")
            return int(db.execute("SELECT COUNT(*) FROM messages").fetchone()[0])

    def prune(self, before: float, recent_since: float, keep: Iterable[State] = ()) -> dict[str, int]:
        """Forget the finished entries last changed before ``before``, but those in ``keep`` and any a target
        confirmed after ``recent_since`` (a FIFO target drops a resend within its deduplication window; the
        next run tells that by the id it gave the earlier send). Returns how many of each state went."""
        states = [state for state in FINISHED if state not in set(keep)]
        where = (
            f"state IN ({','.join('?' * len(states))}) AND updated_at < ? "
            "AND (target_id IS NULL OR COALESCE(sent_at, updated_at) < ?)"
        )
        values = [*states, before, recent_since]
        with self._transaction() as db:
            rows = db.execute(f"SELECT state, COUNT(*) FROM messages WHERE {where} GROUP BY state", values)
            pruned = {str(state): int(count) for state, count in rows.fetchall()}
            db.execute(f"DELETE FROM messages WHERE {where}", values)
            db.execute("DELETE FROM receipts WHERE message_id NOT IN (SELECT message_id FROM messages)")
        return pruned

    def states(self, message_ids: Iterable[str]) -> dict[str, Entry]:
        rows = self._select_in(
            f"SELECT {COLUMNS} FROM {FROM} WHERE m.message_id IN ({{}})",
            list(message_ids),
        )
        return {str(row[0]): Entry(*row) for row in rows}  # type: ignore[arg-type]

    def in_state(self, state: State) -> list[Entry]:
        with self._lock:
            rows = self._db.execute(f"SELECT {COLUMNS} FROM {FROM} WHERE m.state = ?", (state,)).fetchall()
        return [Entry(*row) for row in rows]

    def counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute("SELECT state, COUNT(*) FROM messages GROUP BY state").fetchall()
        return {str(state): int(count) for state, count in rows}
