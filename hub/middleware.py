"""ASGI middleware: the gate for requests without a known token, the body size limit (413), and metrics.

The gate runs before any body is read. A request that carries no token the hub knows is charged to its
client address (`unauthenticated_per_minute`, token bucket of `unauthenticated_burst`): over it, 429 with
`Retry-After`; under it, `/v1/...` gets its 401 at once and the other routes (`/healthz`, `/metrics`,
`/docs`) are served. Known tokens cost no lookup (the token cache, `hub.auth_cache`); an unknown one costs
one indexed SELECT, only while its address has tokens left. `/metrics` with the metrics token passes.

The body limit checks `Content-Length` first, then counts the bytes actually received (a chunked or lying
client cannot get past it); the body is buffered, at most `max_body_bytes`, and replayed to the app.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
from typing import TYPE_CHECKING, Any

import anyio.to_thread
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.ratelimit import retry_after_header

if TYPE_CHECKING:
    from hub.app import HubContext

logger = logging.getLogger(__name__)


def bearer_token(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The bearer token of the raw headers, read as FastAPI's HTTPBearer reads it."""
    for name, value in headers:
        if name == b"authorization":
            scheme, _, credentials = value.decode("latin-1").partition(" ")
            credentials = credentials.strip()
            return credentials if scheme.lower() == "bearer" and credentials else None
    return None


def client_address(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


class HubMiddleware:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int, context: HubContext) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.context = context
        self.metrics = context.metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}

        async def send_tracked(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = int(message["status"])
            await send(message)

        try:
            refusal = await self._gate(scope)
            if refusal is not None:
                status_code, headers, payload = refusal
                await _send_json(send_tracked, status_code, payload, headers)
                return
            body = await self._read_body(scope, receive)
            if body is None:
                await _too_large(send_tracked, self.max_body_bytes)
                return
            await self.app(scope, _replay(body, receive), send_tracked)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            self.metrics.observe_request(
                scope.get("method", ""), path, status["code"], time.perf_counter() - started
            )

    async def _gate(self, scope: Scope) -> tuple[int, dict[str, str], dict[str, str]] | None:
        """None to let the request in, else its refusal (status, headers, body), before any body is read."""
        ctx = self.context
        token = bearer_token(scope.get("headers", []))
        path: str = scope.get("path", "")
        if token is not None:
            if ctx.tokens.cached(token) is not None:
                return None
            expected = ctx.settings.metrics_token
            if (
                path == "/metrics"
                and expected is not None
                and hmac.compare_digest(token.encode(), expected.get_secret_value().encode())
            ):
                return None
        address = client_address(scope)
        wait = ctx.address_limiter.exhausted(address)
        if wait <= 0 and token is not None and not (path == "/metrics" and ctx.settings.metrics_token):
            try:
                if await anyio.to_thread.run_sync(ctx.tokens.lookup, token) is not None:
                    return None
            except (OperationalError, PoolTimeout, DBAPIError) as exc:
                logger.error("database unavailable: %s", type(exc).__name__)
                return 503, {"Retry-After": "5"}, {"detail": "database unavailable, retry later"}
        if wait <= 0:
            wait = ctx.address_limiter.acquire(address)
        if wait > 0:
            ctx.metrics.count("unauthenticated_refused")
            return (
                429,
                {"Retry-After": retry_after_header(wait)},
                {"detail": "too many requests without a valid token"},
            )
        if path.startswith("/v1/"):
            detail = "unknown token" if token is not None else "missing bearer token"
            return 401, {"WWW-Authenticate": "Bearer"}, {"detail": detail}
        return None

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes | None:
        """The whole body, or None when it is over the limit."""
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    if int(value) > self.max_body_bytes:
                        return None
                except ValueError:
                    pass
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _too_large(send: Any, limit: int) -> None:
    await _send_json(send, 413, {"detail": f"request body over {limit} bytes"})


async def _send_json(
    send: Any, status: int, body: dict[str, str], headers: dict[str, str] | None = None
) -> None:
    payload = json.dumps(body, separators=(",", ":")).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})
