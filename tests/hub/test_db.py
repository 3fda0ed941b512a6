"""SQLite set-up: WAL, a busy timeout, and writes that take the write lock up front."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import event

from hub.db import Database, migrate


def test_sqlite_runs_in_wal_with_immediate_write_transactions(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hub.sqlite3'}"
    migrate(url)
    db = Database(url, busy_timeout_ms=1234)
    statements: list[str] = []
    event.listen(db.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    try:
        with db.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 1234
        statements.clear()
        with db.write():
            pass
        with db.read() as session:
            session.connection()
        assert [s for s in statements if s.startswith("BEGIN")] == ["BEGIN IMMEDIATE", "BEGIN"]
    finally:
        db.dispose()


def test_migrate_reports_the_schema_current(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hub.sqlite3'}"
    db = Database(url)
    try:
        assert db.schema_status() == "missing"
        migrate(db)
        assert db.schema_status() == "current"
    finally:
        db.dispose()
