"""ASGI middleware: the gate for requests without a known token, the body size limit (413), and metrics.

The gate runs before any body is read. A request that carries no token the hub knows is charged to its
client address (`unauthenticated_per_minute`, token bucket of `unauthenticated_burst`): over it, 429 with
`Retry-After`; under it, `/v1/...` gets its 401 at once and the other routes (`/healthz`, `/metrics`,
`/docs`) are served. Known tokens cost no lookup (the token cache, `hub.auth_cache`); one not cached yet
costs one indexed SELECT, so a seller sharing an address (a NAT) with a flood of bad tokens still gets in.
`/metrics` with the metrics token passes. A seller's write (`POST`/`PUT`/`DELETE` of reports, record
changes) is refused here too, before its body is read, while another write of the same seller is in progress
or its write budget is spent, and once read, before it is parsed, when the budget cannot pay for the items
the body holds: a churning seller's big bodies are then never parsed.

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
    from hub.sellers import Identity

logger = logging.getLogger(__name__)

WRITE_METHODS = ("POST", "PUT", "DELETE")
WRITE_PATHS = ("/v1/reports", "/v1/me/record")
_WRITER = "hub.writer"  # scope key: the seller id of a write let through the gate


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
                if _has_body(scope):
                    # The body stays unread: closing the connection spares the hub receiving and parsing
                    # it only to throw it away (a churning seller sends 1 MB snapshots back to back).
                    headers = {**headers, "Connection": "close"}
                await _send_json(send_tracked, status_code, payload, headers)
                return
            body = await self._read_body(scope, receive)
            if body is None:
                await _too_large(send_tracked, self.max_body_bytes)
                return
            refusal = self._write_budget_gate(scope, body)
            if refusal is not None:
                status_code, headers, payload = refusal
                await _send_json(send_tracked, status_code, payload, headers)
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
            known = ctx.tokens.cached(token)
            if known is not None:
                return self._seller_gate(scope, known)
            expected = ctx.settings.metrics_token
            if (
                path == "/metrics"
                and expected is not None
                and hmac.compare_digest(token.encode(), expected.get_secret_value().encode())
            ):
                return None
        address = client_address(scope)
        if token is not None and not (path == "/metrics" and ctx.settings.metrics_token):
            try:
                found = await anyio.to_thread.run_sync(ctx.tokens.lookup, token)
                if found is not None:
                    return self._seller_gate(scope, found)
            except (OperationalError, PoolTimeout, DBAPIError) as exc:
                logger.error("database unavailable: %s", type(exc).__name__)
                return 503, {"Retry-After": "5"}, {"detail": "database unavailable, retry later"}
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

    def _seller_gate(
        self, scope: Scope, seller: Identity
    ) -> tuple[int, dict[str, str], dict[str, str]] | None:
        """A seller's request refused before its body is read: over its request rate, or a write while one is
        in progress already or its write budget is spent.

        The handler checks each again (`hub.api.admit`, `hub.api.charge_writes`,
        `HubContext.one_write_per_seller`) and takes from the budgets; here they only look, and keep a
        churning seller's big bodies from being read and parsed at all.
        """
        ctx = self.context
        if _has_body(scope):
            wait = ctx.rate_limiter.waiting(seller.id)
            if wait > 0:
                ctx.metrics.count("rate_limited")
                return 429, {"Retry-After": retry_after_header(wait)}, {"detail": "rate limit exceeded"}
        if scope.get("method") not in WRITE_METHODS or not scope.get("path", "").startswith(WRITE_PATHS):
            return None
        if ctx.is_writing(seller.id):
            return 429, {"Retry-After": "1"}, {"detail": "another write of this seller is in progress"}
        scope[_WRITER] = seller.id
        return self._write_budget_refusal(seller.id, 1)

    def _write_budget_gate(
        self, scope: Scope, body: bytes
    ) -> tuple[int, dict[str, str], dict[str, str]] | None:
        """A seller's write refused before its body is parsed: its write budget cannot pay for the items.

        Every item (a report, a record change) is a JSON object, and JSON has no escape for the `{` that
        opens one: a body holds at most `{` count - 1 items (the body is an object too), and braces inside
        names only overstate it (the handler charges the parsed count). Parsing and validating 10,000 reports
        takes the event loop ~0.3 s: a churning seller whose big writes the budget refuses after parsing,
        within its request rate, kept the loop busy and every other seller waiting.
        """
        writer = scope.get(_WRITER)
        if writer is None:
            return None
        return self._write_budget_refusal(writer, max(1, body.count(b"{") - 1))

    def _write_budget_refusal(
        self, seller_id: int, items: int
    ) -> tuple[int, dict[str, str], dict[str, str]] | None:
        ctx = self.context
        wait = ctx.write_limiter.waiting(seller_id, items)
        if wait > 0:
            ctx.metrics.count("write_budget_refused")
            detail = "write budget exceeded: too many items written"
            return 429, {"Retry-After": retry_after_header(wait)}, {"detail": detail}
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


def _has_body(scope: Scope) -> bool:
    for name, value in scope.get("headers", []):
        if name == b"transfer-encoding" or (name == b"content-length" and value.strip() not in (b"", b"0")):
            return True
    return False


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
