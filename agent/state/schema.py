"""The local state's SQLite schema, versioned with PRAGMA user_version.

`MIGRATIONS[i]` takes a database from version i to i+1. Append new steps, never edit shipped ones: a
seller's state file survives upgrades of the agent.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator

from agent.errors import StateTooNew

logger = logging.getLogger(__name__)

_V1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

-- The store's blacklist as last seen. Agent entries carry the shared entry they were added from.
CREATE TABLE blacklist (
    member_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    origin TEXT NOT NULL CHECK (origin IN ('manual', 'agent')),
    blacklisted_at TEXT,
    first_seen_at TEXT NOT NULL,
    provenance TEXT,            -- JSON: hub entry, reporters, score, reasons, last_reported_at
    score INTEGER,              -- the shared entry's score when added (eviction picks the lowest)
    added_at TEXT
);

-- Our own reports as the hub holds them, as far as we know (withdrawals of large snapshots use it).
CREATE TABLE reported (member_id TEXT PRIMARY KEY, name TEXT NOT NULL, confirmed_at TEXT NOT NULL);

CREATE TABLE allowlist (
    member_id TEXT PRIMARY KEY, name TEXT, reason TEXT NOT NULL, created_at TEXT NOT NULL
);

-- The pooled list, cached from the feed. `generation` lets a full re-pull drop what it did not see.
CREATE TABLE shared_entries (
    member_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    reporters INTEGER NOT NULL,
    score INTEGER NOT NULL,
    reasons TEXT NOT NULL,
    first_reported_at TEXT,
    last_reported_at TEXT,
    generation INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE orders (
    order_id TEXT PRIMARY KEY,
    member_id TEXT NOT NULL,
    buyer_name TEXT NOT NULL,
    created_at TEXT NOT NULL,
    status TEXT NOT NULL,
    recorded_at TEXT NOT NULL
);
CREATE INDEX orders_member ON orders (member_id);

-- Pushes not yet delivered: the latest wish per buyer (a withdrawal replaces a queued report).
CREATE TABLE outbox (
    member_id TEXT PRIMARY KEY,
    action TEXT NOT NULL CHECK (action IN ('report', 'withdraw')),
    name TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT 'unspecified',
    reported_at TEXT,
    queued_at TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    rejected INTEGER NOT NULL DEFAULT 0  -- the hub refused it (422): kept for the seller to see
);

-- Recorded before the agent touches the store, settled after (or by the next read of the blacklist).
CREATE TABLE intents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    action TEXT NOT NULL CHECK (action IN ('add', 'remove')),
    member_id TEXT NOT NULL,
    name TEXT NOT NULL,
    why TEXT NOT NULL,
    provenance TEXT,
    score INTEGER,
    created_at TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    outcome TEXT,
    finished_at TEXT
);
CREATE INDEX intents_pending ON intents (status) WHERE status = 'pending';

CREATE TABLE audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    action TEXT NOT NULL,
    member_id TEXT NOT NULL,
    name TEXT,
    details TEXT NOT NULL,
    cycle_id INTEGER
);
CREATE INDEX audit_member ON audit (member_id);

CREATE TABLE alerts (
    order_id TEXT PRIMARY KEY,
    member_id TEXT NOT NULL,
    name TEXT NOT NULL,
    order_created_at TEXT NOT NULL,
    reporters INTEGER NOT NULL,
    score INTEGER NOT NULL,
    reasons TEXT NOT NULL,
    raised_at TEXT NOT NULL
);

CREATE TABLE review (
    member_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    reporters INTEGER NOT NULL,
    score INTEGER NOT NULL,
    reasons TEXT NOT NULL,
    completed_orders INTEGER NOT NULL,
    flagged_at TEXT NOT NULL
);

-- Buyers the backend refused to blacklist under this name (mismatch, unknown): not retried until the
-- hub's name changes.
CREATE TABLE rejected (
    member_id TEXT PRIMARY KEY, name TEXT NOT NULL, outcome TEXT NOT NULL, message TEXT, at TEXT NOT NULL
);

CREATE TABLE cycles (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    outcome TEXT,
    report TEXT
);
"""

_V2 = """
-- The sum of the counting reporters' standings (hubs that send it); NULL: count one per reporter.
ALTER TABLE shared_entries ADD COLUMN weight REAL;

-- Changes of this seller's private record on the hub (what the agent added, the allowlist) waiting to be
-- sent: the latest wish per list and buyer.
CREATE TABLE record_outbox (
    list TEXT NOT NULL CHECK (list IN ('auto', 'allow')),
    member_id TEXT NOT NULL,
    op TEXT NOT NULL CHECK (op IN ('add', 'remove')),
    name TEXT,
    queued_at TEXT NOT NULL,
    PRIMARY KEY (list, member_id)
);
"""

MIGRATIONS: list[str] = [_V1, _V2]
SCHEMA_VERSION = len(MIGRATIONS)


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the database to SCHEMA_VERSION, one transaction per step; returns the version."""
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise StateTooNew(
            f"the local state has schema version {version}, this agent knows up to {SCHEMA_VERSION}: "
            "upgrade the agent"
        )
    for target in range(version + 1, SCHEMA_VERSION + 1):
        # One transaction per step, taken with the write lock before the version is read again: another
        # process opening the same new file at the same moment (the dashboard and `run` started together)
        # either did this step already, or waits for us. A failed step leaves the previous version intact.
        conn.execute("BEGIN IMMEDIATE")
        try:
            if int(conn.execute("PRAGMA user_version").fetchone()[0]) >= target:
                conn.execute("COMMIT")
                continue
            logger.info("migrating local state to schema version %d", target)
            for statement in _statements(MIGRATIONS[target - 1]):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {target}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    return SCHEMA_VERSION


def _statements(script: str) -> Iterator[str]:
    """The statements of a migration script one by one (a trigger's body keeps its own semicolons)."""
    start = 0
    for end, char in enumerate(script):
        if char == ";" and sqlite3.complete_statement(script[start : end + 1]):
            statement = script[start : end + 1].strip()
            if statement != ";":
                yield statement
            start = end + 1
    if script[start:].strip():
        yield script[start:]
