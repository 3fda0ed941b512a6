"""`GET /v1/feed`: the route thousands of agents poll or wait on (contract: docs/hub-api.md, "The feed").

`answer_feed` decides every answer; the FastAPI route (validation, OpenAPI) and the lean ASGI path of
`hub.feed_fast` (the same answers without FastAPI's per-request machinery) both call it. It runs on the
event loop and touches the database only through worker threads, and only when it must:
- the caller's identity comes from the token cache (`hub.auth_cache`), else one SELECT;
- a conditional poll is decided from this process's copy of the hub's counters (`hub.notify`): while
  nothing changed it is a 304 without any I/O;
- `wait=N` (at most 60 s) holds the request, as a future on the event loop (no thread), while nothing was
  committed after the cursor; it is answered as soon as a change commits, or after N seconds as a plain
  poll would be then (304 when `If-None-Match` still matches, else the empty page);
- pages come from `hub.feed_pages` (one read shared by every client asking for the same page).

A refusal is the same as on every route: 401 (no or unknown token), 403 (disabled seller), 429 (rate
limit, `Retry-After`), and 410 for a cursor the hub cannot serve. A seller disabled (or a token rotated)
while its request waits gets the 403 (401) as soon as this process hears of it.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from hub.api import AUTH_RESPONSES, MAX_CURSOR, Credentials, Ctx, admit, bearer_token
from hub.app import HubContext
from hub.db import HubCounters
from hub.feed import FULL_PULL_BASE, CursorGone, FeedState, feed_state, read_page
from hub.feed_pages import ServedPage, page_key
from hub.middleware import client_address
from hub.ratelimit import retry_after_header
from hub.schemas import ErrorOut, FeedPage
from hub.sellers import Identity

MAX_LIMIT = 5000
MAX_WAIT_SECONDS = 60
DEFAULT_LIMIT = 1000
CLIENT_GONE = 499  # the client closed the connection while waiting (nginx's code); nobody reads it

router = APIRouter()


class NotModified(Response):
    """A 304 with its ETag, sent as two bare ASGI messages: the feed's most frequent answer by far."""

    def __init__(self, etag: str) -> None:  # no super().__init__: nothing of its header machinery is needed
        self.status_code = 304
        self.body = b""
        self.background = None
        self.raw_headers = [(b"etag", etag.encode("latin-1"))]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 304, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": b""})


def _error(exc: HTTPException) -> Response:
    """The answer FastAPI's handler gives for `exc` (same body and headers as the other routes)."""
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)


def _gone(exc: CursorGone) -> Response:
    return JSONResponse({"detail": str(exc)}, status_code=410)


async def _identity(ctx: HubContext, token: str) -> Identity | None:
    cached = ctx.tokens.cached(token)
    if cached is not None:
        return cached
    return await anyio.to_thread.run_sync(ctx.tokens.lookup, token)


async def _known(ctx: HubContext, token: str | None, address: str) -> Identity | None:
    """The token's identity; None (no token, unknown) is charged to the address, 429 beyond its limit.

    The same gate as `hub.middleware` for the other routes.
    """
    if token is not None:
        cached = ctx.tokens.cached(token)
        if cached is not None:
            return cached
    if token is not None:
        found = await anyio.to_thread.run_sync(ctx.tokens.lookup, token)
        if found is not None:
            return found
    wait = ctx.address_limiter.acquire(address)
    if wait > 0:
        ctx.metrics.count("unauthenticated_refused")
        raise HTTPException(
            429, "too many requests without a valid token", headers={"Retry-After": retry_after_header(wait)}
        )
    return None


def _position(cursor: int) -> int:
    """The sequence number a cursor stands for (a full pull's continuation carries an offset)."""
    return cursor - FULL_PULL_BASE if cursor >= FULL_PULL_BASE else cursor


async def answer_feed(
    ctx: HubContext,
    token: str | None,
    cursor: int,
    limit: int,
    wait: int,
    if_none_match: str | None,
    receive: Receive | None,
    address: str = "unknown",
) -> Response:
    """The answer to `GET /v1/feed` with these (validated) parameters; see the module docstring."""
    limit = min(limit, ctx.settings.feed_page_max)
    if ctx.sweep_due():
        await anyio.to_thread.run_sync(ctx.maybe_sweep)
    try:
        identity = await _known(ctx, token, address)
        token = token or bearer_token(None)  # no token: the 401 every route gives
        admit(ctx, identity)
    except HTTPException as exc:
        return _error(exc)
    counters = ctx.notifier.counters
    position = _position(cursor)
    if position > counters.last_seq:  # news this process has not heard yet, or a cursor from elsewhere
        counters = await ctx.notifier.refresh()
    try:
        FeedState(counters.last_seq, counters.horizon_seq).check(cursor)
    except CursorGone as exc:
        return _gone(exc)
    wait = min(wait, ctx.settings.feed_wait_max_seconds)
    if wait > 0 and position >= counters.last_seq:
        waited = await _wait(ctx, token, cursor, counters, wait, receive)
        if isinstance(waited, Response):
            return waited
        counters = waited
        if ctx.notifier.stopping:  # answered as a plain poll; the client waits again, elsewhere or later
            return _closing(await _answer(ctx, cursor, limit, counters, if_none_match))
    return await _answer(ctx, cursor, limit, counters, if_none_match)


async def _answer(
    ctx: HubContext, cursor: int, limit: int, counters: HubCounters, if_none_match: str | None
) -> Response:
    """The page after `cursor` as of `counters` (or newer), or 304 when `if_none_match` still matches."""
    state = FeedState(counters.last_seq, counters.horizon_seq)
    try:
        state.check(cursor)
    except CursorGone as exc:
        return _gone(exc)
    unchanged = state.not_modified(if_none_match, cursor, limit)
    if unchanged is not None:
        return NotModified(unchanged)
    page = await ctx.pages.load(
        page_key(cursor, limit, state), lambda: anyio.to_thread.run_sync(_read, ctx, cursor, limit)
    )
    if page.gone is not None:
        return _gone(page.gone)
    # The page's own reading of the hub may be newer than what this process had heard.
    ctx.notifier.observe(HubCounters(page.state.last_seq, page.state.horizon_seq, counters.sellers_version))
    unchanged = page.state.not_modified(if_none_match, cursor, limit)
    if unchanged is not None:
        return NotModified(unchanged)
    return Response(page.body, media_type="application/json", headers={"ETag": page.etag})


def _closing(response: Response) -> Response:
    """The response with `Connection: close`: this process is shutting down."""
    if isinstance(response, NotModified):
        response.raw_headers.append((b"connection", b"close"))
    else:
        response.headers["Connection"] = "close"
    return response


def _read(ctx: HubContext, cursor: int, limit: int) -> ServedPage:
    """One page and the hub's state, in one read transaction (blocking: runs in a worker thread)."""
    with ctx.db.read() as session:
        state = feed_state(session)
        try:
            state.check(cursor)
        except CursorGone as exc:
            return ServedPage(state, b"", "", exc)
        page = read_page(session, state, cursor, limit)
    return ServedPage(state, page.to_json(), state.etag(cursor, limit, page))


async def _wait(
    ctx: HubContext, token: str, cursor: int, counters: HubCounters, wait: int, receive: Receive | None
) -> HubCounters | Response:
    """Hold the request while nothing was committed after `cursor`; the counters to answer from."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    position = _position(cursor)
    gone = asyncio.ensure_future(_disconnection(receive)) if receive is not None else None
    ctx.metrics.count("feed_waits")
    try:
        while position >= counters.last_seq and not 0 < cursor < counters.horizon_seq:
            remaining = deadline - loop.time()
            if remaining <= 0 or (gone is not None and gone.done()) or ctx.notifier.stopping:
                break
            await ctx.notifier.wait(counters, remaining, give_up=gone)
            fresh = ctx.notifier.counters
            if fresh.sellers_version != counters.sellers_version:
                refusal = await _refused_now(ctx, token)
                if refusal is not None:
                    return refusal
            counters = fresh
        if gone is not None and gone.done():
            return Response(status_code=CLIENT_GONE)
    finally:
        if gone is not None and not gone.done():
            gone.cancel()
    return counters


async def _disconnection(receive: Receive) -> None:
    """Return when the client disconnects (the request itself has no body to read)."""
    while (await receive())["type"] != "http.disconnect":
        pass


async def _refused_now(ctx: HubContext, token: str) -> Response | None:
    """After a seller change: 401 / 403 if the waiting caller no longer passes (no rate-limit charge)."""
    identity = await _identity(ctx, token)
    if identity is None:
        return _error(HTTPException(401, "unknown token", headers={"WWW-Authenticate": "Bearer"}))
    if not identity.enabled:
        return _error(HTTPException(403, "this seller is disabled on the hub"))
    return None


WAIT_DESCRIPTION = (
    "Seconds (0-60) to hold the request while nothing changed after `cursor`: answered as soon as a change "
    "commits, else after `wait` seconds like a plain poll (304 when If-None-Match still matches)."
)


@router.get(
    "/v1/feed",
    response_model=FeedPage,
    responses={
        **AUTH_RESPONSES,
        304: {"description": "Nothing changed since the response carrying this ETag."},
        410: {"model": ErrorOut, "description": "The hub can no longer serve this cursor: re-pull from 0."},
    },
    tags=["feed"],
)
async def get_feed(
    request: Request,
    ctx: Ctx,
    credentials: Credentials,
    cursor: Annotated[int, Query(ge=0, le=MAX_CURSOR)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    wait: Annotated[int, Query(ge=0, le=MAX_WAIT_SECONDS, description=WAIT_DESCRIPTION)] = 0,
) -> Response:
    """Entry changes after `cursor`, oldest first, with tombstones (`deleted: true`); can wait for news."""
    token = credentials.credentials if credentials is not None else None
    if_none_match = request.headers.get("if-none-match")
    address = client_address(request.scope)
    return await answer_feed(ctx, token, cursor, limit, wait, if_none_match, request.receive, address)
