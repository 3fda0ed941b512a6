"""The lean path of `GET /v1/feed`: the same answers as the FastAPI route, without its per-request machinery.

A conditional poll answered from memory costs tens of microseconds in `hub.feed_api.answer_feed`; FastAPI's
layers around it (telemetry checks, error and body-limit middleware, request object, dependency resolution,
validation) would cost several times that. `hub.app.HubApp` hands every request to `FeedFastPath.answer`
first, which answers `GET /v1/feed` itself when the request is plainly well-formed: query parameters
`cursor`, `limit`, `wait` each at most once, as plain decimal numbers within their bounds. Anything else
(a value FastAPI would refuse with 422, percent-encoding, a repeated parameter) goes on to the FastAPI route,
which validates and answers it through the same `answer_feed`; the route stays the one the OpenAPI document
describes. This path counts its requests in the same metrics and answers database failures with the same 503.
"""

from __future__ import annotations

import logging
import time

from starlette.responses import PlainTextResponse, Response
from starlette.types import Receive, Scope, Send

from hub.api import MAX_CURSOR
from hub.app import DATABASE_ERRORS, HubContext, database_unavailable
from hub.feed_api import DEFAULT_LIMIT, MAX_LIMIT, MAX_WAIT_SECONDS, answer_feed
from hub.middleware import client_address

logger = logging.getLogger(__name__)

PATH = "/v1/feed"
_BOUNDS = {b"cursor": (0, MAX_CURSOR), b"limit": (1, MAX_LIMIT), b"wait": (0, MAX_WAIT_SECONDS)}


def parse_query(raw: bytes) -> dict[bytes, int] | None:
    """The feed's parameters (defaults filled in), or None when only full validation can judge them."""
    values = {b"cursor": 0, b"limit": DEFAULT_LIMIT, b"wait": 0}
    seen: set[bytes] = set()
    for part in raw.split(b"&") if raw else ():
        if b"%" in part or b"+" in part:
            return None
        name, _, value = part.partition(b"=")
        bounds = _BOUNDS.get(name)
        if bounds is None:
            continue  # FastAPI ignores parameters it does not know; so does this path
        if name in seen or not value.isdigit() or len(value) > 19:
            return None
        number = int(value)
        if not bounds[0] <= number <= bounds[1]:
            return None
        values[name] = number
        seen.add(name)
    return values


def bearer(headers: list[tuple[bytes, bytes]]) -> tuple[str | None, str | None]:
    """(token, If-None-Match) from the raw headers, read as FastAPI's HTTPBearer and Starlette read them."""
    authorization = if_none_match = None
    for name, value in headers:
        if name == b"authorization" and authorization is None:
            authorization = value.decode("latin-1")
        elif name == b"if-none-match" and if_none_match is None:
            if_none_match = value.decode("latin-1")
    token = None
    if authorization:
        scheme, _, credentials = authorization.partition(" ")
        credentials = credentials.strip()
        if scheme.lower() == "bearer" and credentials:
            token = credentials
    return token, if_none_match


class FeedFastPath:
    def __init__(self, context: HubContext) -> None:
        self.context = context

    async def answer(self, scope: Scope, receive: Receive, send: Send) -> bool:
        """Answer the request if it is a plain feed request; False to leave it to the app."""
        if scope["type"] != "http" or scope["method"] != "GET" or _route_path(scope) != PATH:
            return False
        query = parse_query(scope["query_string"])
        if query is None:
            return False
        started = time.perf_counter()
        token, if_none_match = bearer(scope["headers"])
        response: Response
        try:
            response = await answer_feed(
                self.context,
                token,
                query[b"cursor"],
                query[b"limit"],
                query[b"wait"],
                if_none_match,
                receive,
                client_address(scope),
            )
        except DATABASE_ERRORS as exc:
            response = database_unavailable(exc)
        except Exception:
            logger.exception("feed request failed")
            response = PlainTextResponse("Internal Server Error", status_code=500)
        try:
            await response(scope, receive, send)
        finally:
            elapsed = time.perf_counter() - started
            self.context.metrics.observe_request("GET", PATH, response.status_code, elapsed)
        return True


def _route_path(scope: Scope) -> str:
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path
