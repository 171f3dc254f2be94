"""The SQLite file behind the redrive journal and the replay ledger: thread-safe, WAL mode, and every
write committed before it returns, so a killed process loses nothing it recorded."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from pathlib import Path

META_SCHEMA = "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
QUERY_CHUNK = 500  # ids per IN (...) query, well under SQLite's variable limit


class Store:
    def __init__(self, path: Path, schema: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(schema + META_SCHEMA)

    def _add_column(self, table: str, column: str, kind: str) -> None:
        """Bring a file written by an older msgctl up to the current schema."""
        with self._lock:
            columns = {str(row[1]) for row in self._db.execute(f"PRAGMA table_info({table})")}
            if column not in columns:
                self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _write(self, statement: str, rows: list[tuple[object, ...]]) -> None:
        """One statement over ``rows`` in one committed transaction; nothing at all when there are none (an
        empty commit still costs a write lock)."""
        self._write_all([(statement, rows)])

    def _write_all(self, writes: list[tuple[str, Sequence[tuple[object, ...]]]]) -> None:
        """Each statement over its rows, all in one committed transaction (nothing when there are no rows)."""
        if any(rows for _, rows in writes):
            with self._transaction() as db:
                for statement, rows in writes:
                    db.executemany(statement, rows)

    def compact(self) -> None:
        """Give the space of removed entries back to the file system (and empty the WAL file)."""
        with self._lock:
            self._db.execute("VACUUM")
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def size(self) -> int:
        """Bytes on disk: the file and its WAL."""
        return sum(p.stat().st_size for p in (self.path, wal_of(self.path)) if p.exists())

    def _select_in(self, query: str, ids: list[str]) -> list[tuple[object, ...]]:
        """Run ``query`` (one ``{}`` for the placeholders) over ``ids`` in chunks."""
        rows: list[tuple[object, ...]] = []
        with self._lock:
            for start in range(0, len(ids), QUERY_CHUNK):
                chunk = ids[start : start + QUERY_CHUNK]
                rows += self._db.execute(query.format(",".join("?" * len(chunk))), chunk).fetchall()
        return rows

    def meta(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, values: dict[str, str]) -> None:
        with self._transaction() as db:
            db.executemany("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", values.items())

    def close(self) -> None:
        with self._lock:
            self._db.close()


def wal_of(path: Path) -> Path:
    return path.with_name(f"{path.name}-wal")


def tables_in(path: Path) -> set[str]:
    """The tables of an existing SQLite file, read without changing it (none when it is not one)."""
    try:
        with closing(sqlite3.connect(path)) as db:
            return {str(row[0]) for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError:
        return set()
