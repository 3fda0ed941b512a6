"""SQLite set-up: WAL, a busy timeout, and writes that take the write lock up front."""

from __future__ import annotations

import sqlite3
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, event, text

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


def test_upgrading_to_the_trust_schema_republishes_entries_under_new_rules(empty_database_url: str) -> None:
    """0003 -> 0004 with data: live entries are recomputed (days, weight, threshold) on the first sweep."""
    url = empty_database_url
    migrate(url, revision="0003")
    engine = create_engine(url)
    with engine.begin() as conn:
        for seller_id, name in ((101, "a"), (102, "b"), (103, "c")):
            conn.execute(
                text(
                    "INSERT INTO sellers (id, name, store_id, token_hash, enabled, standing, created_at,"
                    " token_rotated_at) VALUES (:id, :name, :name, :hash, true, 1.0, :t, :t)"
                ),
                {"id": seller_id, "name": name, "hash": name * 64, "t": datetime(2026, 11, 1)},
            )
        rows = [(1, "m1", 101), (2, "m1", 102), (3, "m2", 101)]  # m1: two reporters; m2: one
        for report_id, member_id, seller_id in rows:
            conn.execute(
                text(
                    "INSERT INTO reports (id, seller_id, member_id, name, reason, reported_at,"
                    " last_confirmed_at, filed_at) VALUES (:id, :seller, :member, 'Jane', 'fraud', :t, :t,"
                    " :t)"
                ),
                {
                    "id": report_id,
                    "seller": seller_id,
                    "member": member_id,
                    "t": datetime(2026, 11, 30, 9, 41),
                },
            )
        for seq, (member_id, reporters) in enumerate((("m1", 2), ("m2", 1)), start=1):
            conn.execute(
                text(
                    "INSERT INTO entries (member_id, name, reporters, score, reasons, first_reported_at,"
                    " last_reported_at, live, delisted, seq, updated_at, payload) VALUES (:m, 'Jane', :r,"
                    " 50, '{\"fraud\": 1}', :t, :t, true, false, :seq, :t, '{}')"
                ),
                {"m": member_id, "r": reporters, "t": datetime(2026, 11, 30, 9, 41), "seq": seq},
            )
            conn.execute(
                text("INSERT INTO changes (seq, member_id, kind, changed_at) VALUES (:seq, :m, 'new', :t)"),
                {"seq": seq, "m": member_id, "t": datetime(2026, 11, 30, 9, 41)},
            )
        conn.execute(text("UPDATE hub_state SET last_seq = 2"))
    engine.dispose()
    migrate(url)
    token = add_seller(url, "d", "D")
    settings = HubSettings(database_url=url, publish_interval_seconds=0, sweep_interval_seconds=0)
    with TestClient(create_app(settings, clock=lambda: datetime(2026, 12, 1, 12, tzinfo=UTC))) as client:
        page = client.get("/v1/feed", headers={"Authorization": f"Bearer {token}"}).json()
    assert [c["member_id"] for c in page["changes"]] == ["m1"]  # m2 has one reporter: out of the feed
    assert page["changes"][0]["entry"] == {
        "member_id": "m1",
        "name": "Jane",
        "reporters": 2,
        "score": 75,
        "reasons": {"fraud": 2},
        "first_reported_at": "2026-11-30T00:00:00Z",
        "last_reported_at": "2026-11-30T00:00:00Z",
        "weight": 2.0,
    }


def test_sqlite_writers_take_turns_in_arrival_order(tmp_path: Path) -> None:
    """A writer that commits and begins again at once (a withdrawal recomputed in batches) does not pass
    another writer already waiting: on SQLite, whose busy handler queues nobody, the hub queues them."""
    url = f"sqlite:///{tmp_path / 'hub.sqlite3'}"
    migrate(url)
    db = Database(url)
    order: list[str] = []
    first_batch_held = threading.Event()

    def batches() -> None:
        for n in range(10):
            with db.write():
                if n == 0:
                    first_batch_held.set()
                time.sleep(0.02)
                order.append(f"batch {n}")

    def other_seller() -> None:
        first_batch_held.wait()
        with db.write():
            order.append("other")

    threads = [threading.Thread(target=batches), threading.Thread(target=other_seller)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        db.dispose()
    assert order.index("other") <= 2, order  # served right after the batch it arrived during
