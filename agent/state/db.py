"""The local state's SQLite connection: opening, migrating, transactions, dry runs and a small key/value.

One connection per process, in autocommit mode with explicit transactions: every step the sync engine
takes is saved in its own short transaction, so a crash (even SIGKILL) loses at most the step in flight.
WAL mode lets `status` read while a background cycle writes.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

from agent.paths import private_dir, private_file
from agent.state.schema import migrate

logger = logging.getLogger(__name__)


def now() -> datetime:
    return datetime.now(UTC)


def iso(value: datetime | None) -> str | None:
    """Timestamps are stored as ISO 8601 text in UTC (naive ones are taken as UTC)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat()


def from_iso(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


class Database:
    """The connection and its transaction discipline; LocalState composes the repositories on top."""

    def __init__(self, conn: sqlite3.Connection, path: Path | None = None) -> None:
        self.conn = conn
        self.path = path
        self._depth = 0
        self._dry = False

    @classmethod
    def open(cls, path: Path) -> Self:
        # Owner-only: the state names buyers and orders. SQLite gives the -wal and -shm files the
        # database file's mode; older agents' files are tightened here too.
        private_dir(path.parent)
        private_file(path)
        for extra in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            if extra.exists():
                private_file(extra)
        conn = sqlite3.connect(path, isolation_level=None, timeout=30, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        _use_wal(conn)
        conn.execute("PRAGMA synchronous = FULL")  # an intent must be on disk before the store is touched
        conn.execute("PRAGMA foreign_keys = ON")
        migrate(conn)
        return cls(conn, path)

    @classmethod
    def in_memory(cls) -> Self:
        conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        migrate(conn)
        return cls(conn, None)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def is_dry_run(self) -> bool:
        return self._dry

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """A transaction, or a savepoint inside an enclosing one (so helpers compose)."""
        if self._depth == 0:
            self.conn.execute("BEGIN IMMEDIATE")
            begin, commit, rollback = None, "COMMIT", "ROLLBACK"
        else:
            name = f"sp{self._depth}"
            begin, commit, rollback = f"SAVEPOINT {name}", f"RELEASE {name}", f"ROLLBACK TO {name}"
        if begin:
            self.conn.execute(begin)
        self._depth += 1
        try:
            yield
        except BaseException:
            self._depth -= 1
            self.conn.execute(rollback)
            if self._depth > 0:
                self.conn.execute(commit)  # a rolled-back savepoint still has to be released
            raise
        self._depth -= 1
        self.conn.execute(commit)

    @contextmanager
    def dry_run(self) -> Iterator[None]:
        """Everything written inside is rolled back at the end: a dry run computes exactly what a real
        run would, against the same state, and leaves no trace."""
        if self._depth:
            raise RuntimeError("a dry run cannot start inside a transaction")
        self.conn.execute("BEGIN")
        self._depth, self._dry = 1, True
        try:
            yield
        finally:
            self._depth, self._dry = 0, False
            self.conn.execute("ROLLBACK")

    def execute(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        return self.conn.execute(sql, params)

    # The key/value table behind the repositories' typed properties (a cursor, a watermark, a capacity);
    # the engine never reads it by key.
    def get_meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str | None) -> None:
        if value is None:
            self.conn.execute("DELETE FROM meta WHERE key = ?", (key,))
        else:
            self.conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )


def _use_wal(conn: sqlite3.Connection, *, tries: int = 100) -> None:
    """Switch to WAL. The switch needs the file to itself and SQLite does not wait for it (no busy
    handler), so two processes opening a new state file at once (the dashboard and `run`) retry briefly."""
    for attempt in range(tries):
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == tries - 1:
                raise
            time.sleep(0.05)
