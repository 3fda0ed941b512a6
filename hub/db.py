"""Engines, sessions, migrations and the write lock.

SQLite: WAL journal, a busy timeout, and `BEGIN IMMEDIATE` for write transactions (so two writers queue on
the busy timeout instead of failing with "database is locked" when a deferred reader upgrades). SQLAlchemy
takes over BEGIN from the sqlite3 driver (its documented recipe: `isolation_level = None` on connect plus a
`begin` event hook); the hook picks IMMEDIATE when the connection carries the `hub_write` execution option.

PostgreSQL (`postgresql+psycopg://...`): READ COMMITTED; every write transaction first takes the row lock of
the single `hub_state` row (`SELECT ... FOR UPDATE`), see `lock_for_write`.

Why writes are serialised: the change log's sequence numbers must become visible in order. With a plain
sequence, writer A could take seq 10, writer B seq 11, B commit first, a feed reader read up to 11 and
move its cursor past 10 before A commits; A's change would never reach that reader. Holding the
`hub_state` lock from the start of each write transaction until its commit means the next writer
allocates its numbers only after the previous one is committed and visible, so for readers sequence
numbers appear strictly in commit order (gaps are tolerated: compaction removes rows). Writes are short
batches, so the cost is small; reads never take the lock.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError as AlembicError
from sqlalchemy import Engine, create_engine, event, select
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from hub.models import HubState

logger = logging.getLogger(__name__)

SchemaStatus = Literal["current", "missing", "outdated", "ahead"]


class SchemaNotReady(RuntimeError):
    """The database has not been migrated to this hub version."""


# Pool sizing: FastAPI runs the plain-`def` handlers in anyio's thread pool, 40 threads by default, and a
# handler holds at most one connection at a time; a pool smaller than that makes busy moments open and close
# overflow connections per request (SQLite: a new connection + its PRAGMAs; PostgreSQL: a new backend).
POOL_SIZE = 40
# Headroom for anything outside the handler threads (startup checks, the lifespan); rarely used. On
# PostgreSQL, workers x (POOL_SIZE + POOL_OVERFLOW) must stay under the server's max_connections (100 by
# default: 2 workers fit; more workers need a bigger max_connections or a pooler such as PgBouncer).
POOL_OVERFLOW = 10
# PostgreSQL: no `pool_pre_ping` (it costs a `SELECT 1` round trip per checkout, ~18% of a 304). A connection
# the server dropped fails its request once (503 via the app's handler, the client retries), and SQLAlchemy
# then invalidates the whole pool, so the next requests reconnect; connections are recycled after an hour
# so idle ones do not outlive server-side or firewall timeouts.
POOL_RECYCLE_SECONDS = 3600


def create_hub_engine(
    url: str,
    *,
    busy_timeout_ms: int = 30000,
    pool_size: int = POOL_SIZE,
    max_overflow: int = POOL_OVERFLOW,
) -> Engine:
    """An engine configured for the hub on SQLite or PostgreSQL."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        file_backed = bool(database) and database != ":memory:" and not str(database).startswith("file:")
        if file_backed:
            Path(str(database)).expanduser().parent.mkdir(parents=True, exist_ok=True)
        # A file database gets a QueuePool (sized as above); in-memory ones keep SQLAlchemy's own pool.
        pooling: dict[str, Any] = {}
        if file_backed:
            pooling = {"pool_size": pool_size, "max_overflow": max_overflow}
        engine = create_engine(
            url, connect_args={"timeout": busy_timeout_ms / 1000, "check_same_thread": False}, **pooling
        )
        _configure_sqlite(engine, busy_timeout_ms)
        return engine
    return create_engine(
        url, pool_size=pool_size, max_overflow=max_overflow, pool_recycle=POOL_RECYCLE_SECONDS
    )


def _configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy emit BEGIN itself (the sqlite3 driver would skip it for SELECTs).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        # FULL: a commit the hub acknowledged survives a power cut too (one fsync per write transaction).
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if conn.get_execution_options().get("hub_write"):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


class Database:
    """One database: a read engine and a write view of it (same pool)."""

    def __init__(self, url: str, *, busy_timeout_ms: int = 30000) -> None:
        self.url = url
        self.engine = create_hub_engine(url, busy_timeout_ms=busy_timeout_ms)
        self._write_engine = self.engine.execution_options(hub_write=True)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def read(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A write transaction holding the hub-wide write lock; commits on success."""
        with Session(self._write_engine, expire_on_commit=False) as session, session.begin():
            lock_for_write(session)
            yield session

    def schema_status(self) -> SchemaStatus:
        with self.engine.connect() as conn:
            return schema_status(conn)

    def require_current_schema(self) -> None:
        status = self.schema_status()
        if status != "current":
            raise SchemaNotReady(_schema_message(status))

    def ping(self) -> None:
        """Raise unless the database answers and holds the hub's tables."""
        with self.read() as session:
            session.execute(select(HubState.last_seq).where(HubState.id == 1)).one()

    def dispose(self) -> None:
        self.engine.dispose()


def lock_for_write(session: Session) -> HubState:
    """Take the hub-wide write lock (a no-op extra on SQLite, already serialised by BEGIN IMMEDIATE)."""
    return session.execute(select(HubState).where(HubState.id == 1).with_for_update()).scalar_one()


def _schema_message(status: SchemaStatus) -> str:
    if status == "missing":
        return "the hub database is not initialised: run `blacklist-hub migrate` first"
    if status == "outdated":
        return "the hub database schema is out of date: run `blacklist-hub migrate` first"
    return "the hub database was migrated by a newer hub version than this one"


def _alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None
    return head


def schema_status(conn: Connection) -> SchemaStatus:
    try:
        current = MigrationContext.configure(conn).get_current_revision()
    except SQLAlchemyError:
        return "missing"
    if current is None:
        return "missing"
    script = ScriptDirectory.from_config(_alembic_config())
    if current == script.get_current_head():
        return "current"
    try:
        known = script.get_revision(current) is not None
    except AlembicError:
        known = False
    return "outdated" if known else "ahead"


def migrate(url: str | Database, *, revision: str = "head") -> str:
    """Bring the database to the latest schema (idempotent); returns the revision now in place.

    `revision` stops at an older schema (tests of the upgrade path).
    """
    db = url if isinstance(url, Database) else Database(url)
    try:
        cfg = _alembic_config()
        with db.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
            current = MigrationContext.configure(conn).get_current_revision() or ""
        logger.info("hub database migrated to %s", current)
        return current
    finally:
        if not isinstance(url, Database):
            db.dispose()
