"""This process's view of the hub's counters, and the feed clients waiting for them to move.

`FeedNotifier` keeps the latest `HubCounters` (last sequence number, compaction horizon, sellers' version)
in memory, so a conditional poll is answered without touching the database, and holds the waiting clients
of `GET /v1/feed?wait=N` (docs/hub-api.md, "Waiting for changes") as bare futures on the event loop: a
waiter costs no thread and a few hundred bytes.

How it learns of changes, fastest first:
1. Writes of this process: `hub.db.Database.write` calls `observe` right after its commit (any `Database`
   over the same URL, e.g. an embedded `HubAdmin`).
2. PostgreSQL: one `LISTEN blacklist_hub` connection per process (psycopg's async connection, to
   `listen_database_url` when set: LISTEN needs a session, not a transaction-mode pooler); every write
   transaction that moved a counter sends `pg_notify` (delivered on commit, from any worker, host or CLI
   process); on each notification the counters are read again on that connection.
3. A periodic read of `hub_state` (`check_seconds`, about once a second): on SQLite it is how writes of
   other processes (the operator's CLI, e.g. `seller disable`) are noticed; on PostgreSQL it is the safety
   net while the listening connection is down or a notification was lost, and it runs on the listening
   connection itself (no pool connection, no thread).

Counters only grow, so news from a push (1, 2) is merged by taking each counter's maximum: two writers
announcing out of order never move the view backwards. A periodic read (3) is taken as it is, so a database
that was reset or replaced is noticed too, unless a push arrived while it was in flight (it may then be
older than the push).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from typing import Any

import anyio.to_thread
import psycopg
from sqlalchemy.engine import make_url

from hub.db import NOTIFY_CHANNEL, Database, HubCounters

logger = logging.getLogger(__name__)

CHECK_SECONDS = 1.0
RECONNECT_SECONDS = (0.5, 1.0, 2.0, 5.0)  # back-off of the listening connection; the last one repeats


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _settle_all(futures: set[asyncio.Future[None]]) -> None:
    for future in futures:
        _settle(future)


class FeedNotifier:
    """The hub's counters as this process last heard them, and the clients waiting for news."""

    def __init__(
        self, db: Database, *, check_seconds: float = CHECK_SECONDS, listen_url: str | None = None
    ) -> None:
        self.db = db
        self.check_seconds = check_seconds
        self.listen_url = listen_url or db.url
        self.counters = db.counters()
        self.listening = False  # PostgreSQL: the LISTEN connection is up
        self._lock = threading.Lock()
        self._pushes = 0  # news merged by `observe`, to tell whether a periodic read raced one
        self._waiters: dict[asyncio.AbstractEventLoop, set[asyncio.Future[None]]] = {}
        self.stopping = False  # the server is shutting down: nobody waits any more
        db.subscribe(self.observe)

    def close(self) -> None:
        self.db.unsubscribe(self.observe)
        self.stop_waiting()

    def stop_waiting(self) -> None:
        """Answer every waiting client now, and let no new one wait (the server is shutting down)."""
        self.stopping = True
        self._wake_all()

    @property
    def waiting(self) -> int:
        """Clients of this process waiting right now."""
        with self._lock:
            return sum(len(futures) for futures in self._waiters.values())

    def observe(self, counters: HubCounters) -> None:
        """News pushed by a write (this process) or a notification: merge it; wake waiters if it is new."""
        with self._lock:
            self._pushes += 1
            merged = self.counters.latest(counters)
            if merged == self.counters:
                return
            self.counters = merged
        self._wake_all()

    def _checked(self, counters: HubCounters, pushes_before: int) -> None:
        """Counters read from the database: authoritative unless a push arrived meanwhile."""
        with self._lock:
            fresh = counters if self._pushes == pushes_before else self.counters.latest(counters)
            if fresh == self.counters:
                return
            self.counters = fresh
        self._wake_all()

    async def refresh(self) -> HubCounters:
        """Read the counters from the database now (in a worker thread) and take them in."""
        pushes = self._pushes
        counters = await anyio.to_thread.run_sync(self.db.counters)
        self._checked(counters, pushes)
        return self.counters

    async def wait(
        self, seen: HubCounters, timeout: float, *, give_up: asyncio.Future[Any] | None = None
    ) -> None:
        """Return once the counters differ from `seen`, after `timeout` seconds, or when `give_up` is done.

        The waiter is a future on the running loop (no task, no thread); `give_up` is e.g. a task reading
        the client's disconnection.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._lock:
            if self.counters != seen or self.stopping:
                return
            self._waiters.setdefault(loop, set()).add(future)
        timer = loop.call_later(max(0.0, timeout), _settle, future)
        if give_up is not None:
            give_up.add_done_callback(lambda _done: _settle(future))
        try:
            await future
        finally:
            timer.cancel()
            with self._lock:
                futures = self._waiters.get(loop)
                if futures is not None:
                    futures.discard(future)

    def _wake_all(self) -> None:
        """Settle every waiter, from any thread: each loop settles its own futures."""
        with self._lock:
            waiters, self._waiters = self._waiters, {}
        for loop, futures in waiters.items():
            # A closed loop (a finished test client's) took its waiters with it.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle_all, futures)

    async def watch(self) -> None:
        """Follow the database until cancelled (the app's lifespan runs this as a task)."""
        if self.db.dialect == "postgresql":
            await self._listen()
        else:
            await self._poll()

    async def _poll(self) -> None:
        failing = False
        while True:
            await asyncio.sleep(self.check_seconds)
            try:
                await self.refresh()
            except Exception as exc:
                if not failing:
                    logger.warning("cannot read the hub's counters (%s); retrying", type(exc).__name__)
                failing = True
            else:
                failing = False

    async def _listen(self) -> None:
        libpq_url = make_url(self.listen_url).set(drivername="postgresql")
        conninfo = libpq_url.render_as_string(hide_password=False)
        attempt = 0
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    self.listening, attempt = True, 0
                    logger.debug("listening for hub changes")
                    await self._follow(conn)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning(
                    "hub change listener lost its connection (%s); reconnecting", type(exc).__name__
                )
            finally:
                self.listening = False
            await asyncio.sleep(RECONNECT_SECONDS[min(attempt, len(RECONNECT_SECONDS) - 1)])
            attempt += 1

    async def _follow(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """Read the counters, then again on each notification or after `check_seconds` of silence."""
        query = "SELECT last_seq, horizon_seq, sellers_version FROM hub_state WHERE id = 1"
        while True:
            pushes = self._pushes
            row = await (await conn.execute(query)).fetchone()
            if row is not None:
                self._checked(HubCounters(int(row[0]), int(row[1]), int(row[2])), pushes)
            # A notification that arrives while the query runs waits in psycopg's backlog: not lost.
            async for _notification in conn.notifies(timeout=self.check_seconds, stop_after=1):
                pass
