"""SQLite set-up: WAL, a busy timeout, and writes that take the write lock up front."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from hub.admin import add_seller
from hub.app import create_app
from hub.db import Database, SchemaNotReady, migrate
from hub.settings import HubSettings


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


def test_upgrading_an_older_schema_keeps_the_entries_served(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hub.sqlite3'}"
    migrate(url, revision="0001")
    with sqlite3.connect(tmp_path / "hub.sqlite3") as conn:
        conn.execute(
            "INSERT INTO entries (member_id, name, reporters, score, reasons, first_reported_at,"
            " last_reported_at, live, delisted, seq, updated_at) VALUES ('m1', 'Jane', 2, 75,"
            " '{\"fraud\": 2}', '2026-11-01 10:00:00', '2026-11-02 10:00:00', 1, 0, 1, '2026-11-02 10:00:00')"
        )
        conn.execute(
            "INSERT INTO changes (seq, member_id, kind, changed_at) VALUES (1, 'm1', 'new', '2026-11-02')"
        )
        conn.execute("UPDATE hub_state SET last_seq = 1")
    with pytest.raises(SchemaNotReady, match="out of date"):
        create_app(HubSettings(database_url=url))
    migrate(url)
    token = add_seller(url, "a", "A")
    with TestClient(create_app(HubSettings(database_url=url))) as client:
        page = client.get("/v1/feed", headers={"Authorization": f"Bearer {token}"}).json()
    assert page["changes"][0]["entry"] == {
        "member_id": "m1",
        "name": "Jane",
        "reporters": 2,
        "score": 75,
        "reasons": {"fraud": 2},
        "first_reported_at": "2026-11-01T10:00:00Z",
        "last_reported_at": "2026-11-02T10:00:00Z",
    }
