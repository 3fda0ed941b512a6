"""The hub's FastAPI application: `create_app(settings)` wires settings, database, limits and routes.

`create_app` refuses (SchemaNotReady) a database that is not migrated to this version. `app_from_env` is
the factory `blacklist-hub serve` hands to uvicorn (settings from `BLACKLIST_HUB_*`), so every worker
process builds its own app.

Per process, in memory (`HubContext`): the hub's counters and the waiting feed clients (`hub.notify`,
followed by a task of the app's lifespan), the token cache (`hub.auth_cache`) and recent feed pages
(`hub.feed_pages`). None of it is the hub's state: every process rebuilds it from the database, so the hub
stays stateless and scales by adding processes. `/docs` works offline (`hub.docs_ui`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from types import FrameType
from typing import TYPE_CHECKING, Any

import anyio.to_thread
from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Receive, Scope, Send

import hub.reports
from hub import __version__
from hub.auth_cache import TokenCache
from hub.db import Database
from hub.docs_ui import add_docs
from hub.feed import CursorGone
from hub.feed_pages import PageCache
from hub.maintenance import due_for_review, sweep
from hub.metrics import Metrics
from hub.middleware import HubMiddleware
from hub.models import utcnow
from hub.notify import FeedNotifier
from hub.publish import Publication, has_pending, immediate_publisher, publish
from hub.ratelimit import RateLimiter
from hub.reports import Limits, QuotaExceeded
from hub.scoring import Ageing
from hub.settings import HubSettings

if TYPE_CHECKING:
    from hub.feed_fast import FeedFastPath

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]


class HubContext:
    """Everything a request handler needs, kept on `app.state.hub`."""

    def __init__(self, settings: HubSettings, db: Database, clock: Clock) -> None:
        self.settings = settings
        self.db = db
        self.clock = clock
        self.ageing = Ageing(
            ttl=timedelta(days=settings.report_ttl_days),
            stale_after=timedelta(days=settings.report_stale_days),
        )
        self.limits = Limits(self.ageing, settings.daily_new_reports, settings.first_snapshot_allowance)
        self.rate_limiter = RateLimiter(settings.rate_limit_per_minute, settings.rate_limit_burst)
        self.write_limiter = RateLimiter(settings.write_items_per_minute, settings.write_items_burst)
        self.lookup_limiter = RateLimiter(settings.lookup_per_minute, settings.lookup_burst)
        self.address_limiter = RateLimiter(
            settings.unauthenticated_per_minute, settings.unauthenticated_burst
        )
        self.publication = Publication(settings.publish_min_reporters, settings.publish_interval_seconds)
        if self.publication.immediate:
            db.publisher = immediate_publisher(self.now, settings.publish_min_reporters)
        self.metrics = Metrics()
        self.notifier = FeedNotifier(db, listen_url=settings.listen_database_url)
        self.tokens = TokenCache(db, self.notifier)
        self.pages = PageCache()
        self.metrics.gauge(
            "feed_waiters", "Feed requests waiting for a change, in this process.", self._waiting
        )
        self._sweep_lock = threading.Lock()
        self._writing: set[int] = set()
        self._writing_lock = threading.Lock()
        self._last_sweep: datetime | None = None

    def now(self) -> datetime:
        return self.clock()

    def _waiting(self) -> float:
        return self.notifier.waiting

    def sweep_due(self) -> bool:
        """Whether `maybe_sweep` has work to consider (no I/O: callable on the event loop)."""
        interval = timedelta(seconds=self.settings.sweep_interval_seconds)
        return self._last_sweep is None or self.now() - self._last_sweep >= interval

    def maybe_sweep(self) -> None:
        """Run the expiry sweep if it is due in this process (cheap read when nothing has aged)."""
        now = self.now()
        if not self.sweep_due():
            return
        if not self._sweep_lock.acquire(blocking=False):
            return  # another thread of this process is sweeping
        try:
            self._last_sweep = now
            with self.db.read() as session:
                due = due_for_review(session, now)
            if due:
                with self.db.write() as session:
                    changes, more = sweep(session, now, self.ageing)
                self.metrics.count("expiry_changes", changes)
                if more:
                    self._last_sweep = None  # the next request takes the next batch
        finally:
            self._sweep_lock.release()

    def recompute_due(self) -> int:
        """Recompute every entry due for review, a batch per write transaction (other writers interleave);
        returns the feed changes made. What a large withdrawal deferred (`hub.reports.RECOMPUTE_AT_ONCE`)."""
        total, more = 0, True
        while more:
            with self.db.write() as session:
                changes, more = sweep(session, self.now(), self.ageing, batch=hub.reports.RECOMPUTE_AT_ONCE)
            total += changes
        self.metrics.count("expiry_changes", total)
        return total

    def is_writing(self, seller_id: int) -> bool:
        with self._writing_lock:
            return seller_id in self._writing

    @contextlib.contextmanager
    def one_write_per_seller(self, seller_id: int) -> Iterator[None]:
        """Let a seller have one write request at a time in this process; 429 for a second one.

        Agents write one request after the other; a seller sending many at once would otherwise queue them
        all on the hub-wide write lock, ahead of every other seller (and hold a thread for each).
        """
        with self._writing_lock:
            if seller_id in self._writing:
                raise HTTPException(
                    429, "another write of this seller is in progress", headers={"Retry-After": "1"}
                )
            self._writing.add(seller_id)
        try:
            yield
        finally:
            with self._writing_lock:
                self._writing.discard(seller_id)

    def publish_pending(self) -> int:
        """Publish what is pending, in batches (blocking: the publication task runs it in a thread)."""
        with self.db.read() as session:
            if not has_pending(session):
                return 0
        total, more = 0, True
        while more:
            with self.db.write() as session:
                changes, more = publish(session, self.now(), self.publication.min_reporters)
            total += changes
        self.metrics.count("published_changes", total)
        return total

    async def run_publication(self) -> None:
        """Publish every `publish_interval_seconds` until cancelled (the app's lifespan runs this)."""
        interval = self.publication.interval_seconds
        failing = False
        while True:
            await asyncio.sleep(interval)
            try:
                await anyio.to_thread.run_sync(self.publish_pending)
            except Exception as exc:
                if not failing:
                    logger.warning("publication failed (%s); retrying", type(exc).__name__)
                failing = True
            else:
                failing = False


class HubApp(FastAPI):
    """FastAPI, with the feed's lean path (`hub.feed_fast`) answered before its middleware stack.

    A conditional poll costs tens of microseconds of our own code; FastAPI's and Starlette's layers around
    it (telemetry checks, error and body-limit middleware, the request metrics middleware) cost as much
    again, so plain feed requests skip them. Every other request takes the ordinary way.
    """

    front: FeedFastPath | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.front is not None and await self.front.answer(scope, receive, send):
            return
        await super().__call__(scope, receive, send)


def create_app(settings: HubSettings | None = None, *, clock: Clock | None = None) -> FastAPI:
    """The hub application over `settings.database_url` (which must be migrated)."""
    from hub.api import router
    from hub.feed_api import router as feed_router

    settings = settings or HubSettings()
    db = Database(
        settings.database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms, pool_size=settings.threads
    )
    try:
        db.require_current_schema()
    except Exception:
        db.dispose()
        raise
    ctx = HubContext(settings, db, clock or utcnow)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.threads
        _stop_waiting_on_shutdown_signals(ctx.notifier)
        tasks = [asyncio.create_task(ctx.notifier.watch(), name="hub-change-watcher")]
        if not ctx.publication.immediate:
            tasks.append(asyncio.create_task(ctx.run_publication(), name="hub-publication"))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            ctx.notifier.close()
            db.dispose()

    app = HubApp(
        title="Blacklist sharing hub",
        version=__version__,
        description="Pools sellers' buyer blacklists and serves the consensus feed. See docs/hub-api.md.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.hub = ctx
    add_docs(app)
    app.include_router(router)
    app.include_router(feed_router)
    app.add_middleware(HubMiddleware, max_body_bytes=settings.max_body_bytes, context=ctx)
    from hub.feed_fast import FeedFastPath  # it builds on the routes' modules, which import this one

    app.front = FeedFastPath(ctx)

    @app.exception_handler(QuotaExceeded)
    async def _quota(_request: Request, exc: QuotaExceeded) -> JSONResponse:
        return JSONResponse(
            {"detail": str(exc)}, status_code=429, headers={"Retry-After": str(exc.retry_after)}
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> Response:
        # ASCII-escaped, because the offending input echoed back may hold lone surrogates (not UTF-8).
        body = json.dumps({"detail": jsonable_encoder(exc.errors())}, ensure_ascii=True, default=str)
        return Response(body, status_code=422, media_type="application/json")

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 405:
            # POST and PUT /v1/reports are separate routes; Allow must list the methods of all of them.
            path = request.url.path
            candidates = [*router.routes, *feed_router.routes]
            routes = [r for r in candidates if isinstance(r, APIRoute) and r.path_regex.match(path)]
            allowed = ", ".join(sorted({m for r in routes for m in (r.methods or ())}))
            return JSONResponse({"detail": exc.detail}, status_code=405, headers={"Allow": allowed})
        return await http_exception_handler(request, exc)

    @app.exception_handler(CursorGone)
    async def _gone(_request: Request, exc: CursorGone) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=410)

    async def _db_down(_request: Request, exc: Exception) -> JSONResponse:
        return database_unavailable(exc)

    app.add_exception_handler(OperationalError, _db_down)
    app.add_exception_handler(PoolTimeout, _db_down)
    app.add_exception_handler(DBAPIError, _db_down)
    return app


DATABASE_ERRORS = (OperationalError, PoolTimeout, DBAPIError)


def _stop_waiting_on_shutdown_signals(notifier: FeedNotifier) -> None:
    """Answer the feed's waiting clients as soon as a shutdown signal comes.

    On SIGTERM or SIGINT uvicorn stops accepting and lets running requests finish, for up to
    `timeout_graceful_shutdown`; a long-poll would wait out that bound and then be cancelled into a 500 (and
    the restart took as long). Chained to uvicorn's handlers, installed before the lifespan starts, this
    answers each waiter at once as a plain poll with `Connection: close`.
    """
    if threading.current_thread() is not threading.main_thread():
        return  # only the main thread takes signals (a test client runs the app in a thread of its own)
    loop = asyncio.get_running_loop()
    for number in (signal.SIGINT, signal.SIGTERM):
        previous = signal.getsignal(number)
        if not callable(previous):
            continue  # not uvicorn's handler: nothing to chain to

        def handler(signum: int, frame: FrameType | None, previous: Callable[..., Any] = previous) -> None:
            loop.call_soon_threadsafe(notifier.stop_waiting)
            previous(signum, frame)

        signal.signal(number, handler)


def database_unavailable(exc: Exception) -> JSONResponse:
    """The 503 for a database that does not answer (the client retries after `Retry-After`)."""
    logger.error("database unavailable: %s", type(exc).__name__)
    return JSONResponse(
        {"detail": "database unavailable, retry later"}, status_code=503, headers={"Retry-After": "5"}
    )


def _raise_open_files_limit() -> None:
    """Every waiting client holds a socket: lift this process's soft limit on open files to the hard one."""
    try:
        import resource
    except ImportError:  # Windows: no such limit to lift
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


SWITCH_INTERVAL = 0.001  # seconds; see app_from_env


def app_from_env() -> FastAPI:
    """uvicorn factory for `serve` (also with several workers): settings from the environment.

    Worker processes start fresh, so this is where their logging is set up (uvicorn configures only its
    own loggers).
    """
    settings = HubSettings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    _raise_open_files_limit()
    # A write transaction gives up the GIL at every statement and must win it back each time; while another
    # thread parses a large body, each return waits out the switch interval (5 ms by default), so a
    # one-report write held the hub-wide write lock for 100-200 ms and everyone queued behind it. A 1 ms
    # interval keeps lock holders moving (bench/churn.py) at the price of more switching between threads.
    sys.setswitchinterval(SWITCH_INTERVAL)
    return create_app(settings)
