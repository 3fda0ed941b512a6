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

Fairness: PostgreSQL queues the waiters of a row lock in order. SQLite does not queue anyone: a writer
that finds the database locked sleeps in SQLite's busy handler (up to 100 ms at a time) and tries again,
so a thread that commits and begins again at once (a large withdrawal recomputed in batches) can pass the
same waiting writer again and again. The writers of one process therefore first queue, in arrival order,
on a `FairLock` per SQLite database (one hub process serves a SQLite database, see `hub.cli`); another
process (the operator's CLI) still meets the busy timeout.

Announcing changes (the feed's waiting clients, docs/hub-api.md "Waiting for changes"): sequence numbers
are allocated only inside `Database.write()`, by advancing `hub_state.last_seq`. At the end of every write
transaction the hub's counters (`HubCounters`: last sequence number, compaction horizon, sellers' version)
are read again; a transaction that changed a seller (ORM flush or bulk statement on `sellers`) first bumps
`sellers_version`. When the counters moved, on PostgreSQL the transaction also sends
`pg_notify('blacklist_hub', ...)`, which PostgreSQL delivers on commit to every listening worker, on any host
(also when the writer is the operator's CLI); after the commit, the subscribers of this process
(`Database.subscribe`, e.g. `hub.notify.FeedNotifier`) are called at once, whichever `Database` object over
the same URL wrote. Changes made by other processes on SQLite are noticed by the notifier's periodic check.
"""

from __future__ import annotations

import inspect
import logging
import threading
import weakref
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any, Literal

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError as AlembicError
from sqlalchemy import Engine, create_engine, event, func, select, update
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from hub.models import HubState, Seller

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


NOTIFY_CHANNEL = "blacklist_hub"


@dataclass(frozen=True, order=True)
class HubCounters:
    """The hub-wide numbers that say whether anything a reader cares about changed."""

    last_seq: int
    horizon_seq: int
    sellers_version: int

    def latest(self, other: HubCounters) -> HubCounters:
        """Each counter at its highest: they only grow, so the higher one is the newer news."""
        return HubCounters(
            max(self.last_seq, other.last_seq),
            max(self.horizon_seq, other.horizon_seq),
            max(self.sellers_version, other.sellers_version),
        )


Subscriber = Callable[[HubCounters], None]
# Per database URL, so that every `Database` over the same URL in this process (the app's, an embedded
# `HubAdmin`'s) wakes the same notifier. Bound methods are held weakly: an app dropped without its lifespan
# having run (tests) does not stay subscribed, nor in memory, for good.
_subscribers: dict[str, list[Callable[[], Subscriber | None]]] = {}
_subscribers_lock = threading.Lock()
_SELLERS_CHANGED = "hub_sellers_changed"
# Set in `session.info` by `hub.entries.refresh_entries` when the transaction left entries to publish.
PENDING_PUBLICATION = "hub_entries_pending"


class FairLock:
    """A lock handed to its waiters in arrival order (`threading.Lock` lets a releasing thread barge)."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._held = False
        self._waiters: deque[threading.Event] = deque()

    def __enter__(self) -> None:
        with self._mutex:
            if not self._held:
                self._held = True
                return
            turn = threading.Event()
            self._waiters.append(turn)
        turn.wait()  # the releasing thread hands the lock over: `_held` stays True

    def __exit__(self, *_exc: object) -> None:
        with self._mutex:
            if self._waiters:
                self._waiters.popleft().set()
            else:
                self._held = False


_sqlite_write_locks: dict[str, FairLock] = {}


def _sqlite_write_lock(url: str) -> FairLock:
    with _subscribers_lock:
        return _sqlite_write_locks.setdefault(url, FairLock())


class _WriteSession(Session):
    """The session of `Database.write`: notes whether the transaction changed a seller."""


@event.listens_for(_WriteSession, "before_flush")
def _note_seller_flush(session: Session, _flush: UOWTransaction, _instances: Any) -> None:
    if any(isinstance(obj, Seller) for obj in chain(session.new, session.dirty, session.deleted)):
        session.info[_SELLERS_CHANGED] = True


@event.listens_for(_WriteSession, "do_orm_execute")
def _note_seller_statement(state: ORMExecuteState) -> None:
    if state.is_select:
        return
    if any(mapper.class_ is Seller for mapper in state.all_mappers):
        state.session.info[_SELLERS_CHANGED] = True


class Database:
    """One database: a read engine and a write view of it (same pool)."""

    def __init__(self, url: str, *, busy_timeout_ms: int = 30000, pool_size: int = POOL_SIZE) -> None:
        self.url = url
        self.engine = create_hub_engine(url, busy_timeout_ms=busy_timeout_ms, pool_size=pool_size)
        self._write_engine = self.engine.execution_options(hub_write=True)
        self._queue: AbstractContextManager[None] = (
            _sqlite_write_lock(url) if self.dialect == "sqlite" else nullcontext()
        )
        # Called at the end of a write transaction that left entries pending publication, inside it: set
        # when the hub publishes at once (`publish_interval_seconds` 0, see `hub.publish`).
        self.publisher: Callable[[Session], None] | None = None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def read(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A write transaction holding the hub-wide write lock; commits on success, then announces.

        See the module docstring, "Announcing changes".
        """
        with self._queue, _WriteSession(self._write_engine, expire_on_commit=False) as session:
            with session.begin():
                held = lock_for_write(session)
                before = HubCounters(held.last_seq, held.horizon_seq, held.sellers_version)
                yield session
                if self.publisher is not None and session.info.pop(PENDING_PUBLICATION, False):
                    self.publisher(session)
                after = self._counters_at_commit(session, before)
            if after is not None:
                announce(self.url, after)

    def _counters_at_commit(self, session: Session, before: HubCounters) -> HubCounters | None:
        """The counters this transaction leaves, or None when it moved none; notifies on PostgreSQL."""
        session.flush()
        if session.info.pop(_SELLERS_CHANGED, False):
            bump = update(HubState).where(HubState.id == 1)
            bump = bump.values(sellers_version=HubState.sellers_version + 1)
            session.execute(bump.execution_options(synchronize_session=False))
        after = read_counters(session)
        if after == before:
            return None
        if self.dialect == "postgresql":
            payload = f"{after.last_seq} {after.horizon_seq} {after.sellers_version}"
            session.execute(select(func.pg_notify(NOTIFY_CHANNEL, payload)))
        return after

    def counters(self) -> HubCounters:
        """The hub's counters as committed now."""
        with self.read() as session:
            return read_counters(session)

    def subscribe(self, subscriber: Subscriber) -> None:
        """Call `subscriber` (in the writing thread) after each write over this URL that moved a counter."""
        # A plain function is held strongly, behind the same interface as a weak reference.
        strong: Callable[[], Subscriber | None] = lambda: subscriber  # noqa: E731
        ref = weakref.WeakMethod(subscriber) if inspect.ismethod(subscriber) else strong
        with _subscribers_lock:
            _subscribers.setdefault(self.url, []).append(ref)

    def unsubscribe(self, subscriber: Subscriber) -> None:
        with _subscribers_lock:
            kept = [ref for ref in _subscribers.get(self.url, []) if ref() not in (None, subscriber)]
            if kept:
                _subscribers[self.url] = kept
            else:
                _subscribers.pop(self.url, None)

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


def read_counters(session: Session) -> HubCounters:
    stmt = select(HubState.last_seq, HubState.horizon_seq, HubState.sellers_version).where(HubState.id == 1)
    row = session.execute(stmt).one()
    return HubCounters(int(row.last_seq), int(row.horizon_seq), int(row.sellers_version))


def announce(url: str, counters: HubCounters) -> None:
    """Tell this process's subscribers over `url` that a committed write moved the counters."""
    with _subscribers_lock:
        listeners = [subscriber for ref in _subscribers.get(url, ()) if (subscriber := ref()) is not None]
    for subscriber in listeners:
        try:
            subscriber(counters)
        except Exception:  # a listener's failure must not fail the write that already committed
            logger.exception("a change subscriber failed")


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
