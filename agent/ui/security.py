"""The dashboard's door: only this user's browser, on this machine, through the link the command printed.

The dashboard can blacklist and un-blacklist buyers in the seller's store, so every request passes four
checks before any page code runs (`GuardMiddleware`), and anything that fails gets 403:

1. `Host` names a loopback address and the dashboard's port. A web page on another site cannot reach us by
   pointing its own domain at 127.0.0.1 (DNS rebinding): the browser would send that domain as `Host`.
2. The session cookie. `blacklist-agent ui` prints (and opens) a link with a one-time key; `GET /open?key=`
   exchanges it for an HttpOnly, SameSite=Strict cookie and the key is spent. Other local users, other
   browsers and other sites' pages have no cookie (SameSite=Strict: a cross-site request never carries it).
3. Every POST carries the session's CSRF token (the `X-CSRF-Token` header htmx sends, or a `csrf` form
   field) and, when the browser says where it comes from (`Origin`, `Sec-Fetch-Site`), comes from the
   dashboard itself.
4. Only GET, HEAD and POST exist.

The server itself binds to 127.0.0.1 only (agent/ui/server.py), so nothing listens beyond loopback.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from starlette.datastructures import Headers
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger(__name__)

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]"})
LINK_KEY_SECONDS = 15 * 60  # an unused link stops working after this
MAX_FORM_BYTES = 256 * 1024
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
OPEN_PATH = "/open"


def _digest(token: str) -> str:
    # Sessions are looked up by a hash of the cookie, so comparing lookups leaks nothing about the cookie.
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(slots=True)
class BrowserSession:
    """One browser's session: its CSRF token and the messages to show on its next page."""

    csrf: str
    created_at: float
    flashes: list[tuple[str, str]] = field(default_factory=list)  # (kind, text)

    def flash(self, text: str, kind: str = "info") -> None:
        self.flashes.append((kind, text))

    def take_flashes(self) -> list[tuple[str, str]]:
        taken, self.flashes = self.flashes, []
        return taken


class Guard:
    """One-time link keys, browser sessions, and the checks every request passes."""

    def __init__(self, port: int = 0) -> None:
        self.port = port  # set once the server's socket is bound
        self._keys: dict[str, float] = {}  # digest of a link key → when it expires
        self._sessions: dict[str, BrowserSession] = {}
        self._lock = threading.Lock()

    @property
    def cookie_name(self) -> str:
        # Cookies are per host, not per port: two dashboards (two stores) on 127.0.0.1 need two names.
        return f"blacklist_agent_ui_{self.port}"

    def new_link(self, base_url: str) -> str:
        """A link that opens the dashboard once (the tray icon and the CLI ask for one)."""
        key = secrets.token_urlsafe(32)
        with self._lock:
            now = time.monotonic()
            self._keys = {k: t for k, t in self._keys.items() if t > now}
            self._keys[_digest(key)] = now + LINK_KEY_SECONDS
        return f"{base_url}{OPEN_PATH}?key={key}"

    def spend_key(self, key: str) -> str | None:
        """Exchange a valid, unspent link key for a new session; returns the session cookie's value."""
        with self._lock:
            expires = self._keys.pop(_digest(key), None)
            if expires is None or expires < time.monotonic():
                return None
            token = secrets.token_urlsafe(32)
            self._sessions[_digest(token)] = BrowserSession(secrets.token_urlsafe(32), time.time())
        return token

    def session(self, cookie_value: str | None) -> BrowserSession | None:
        if not cookie_value:
            return None
        with self._lock:
            return self._sessions.get(_digest(cookie_value))

    def host_ok(self, host: str | None) -> bool:
        """`Host` is a loopback name with the dashboard's port."""
        if not host:
            return False
        if host.startswith("["):  # an IPv6 literal: [::1]:8000
            end = host.find("]") + 1
            name, port = host[:end], host[end:].removeprefix(":")
        else:
            name, _, port = host.partition(":")
        if name.lower() not in LOOPBACK_HOSTS:
            return False
        return not self.port or (port or "80") == str(self.port)

    def post_ok(self, headers: Headers, body: bytes, session: BrowserSession) -> str | None:
        """None when a POST may proceed, else why it may not."""
        host = headers.get("host", "")
        origin = headers.get("origin")
        if origin is not None and origin != f"http://{host}":
            return "the request comes from another site"
        if headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
            return "the request comes from another site"
        token = headers.get(CSRF_HEADER)
        if token is None and headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            values = parse_qs(body.decode("utf-8", "replace")).get(CSRF_FIELD)
            token = values[0] if values else None
        if token is None or not hmac.compare_digest(token.encode(), session.csrf.encode()):
            return "the form is missing its security token (reload the page and try again)"
        return None


async def _forbidden(send: Send, reason: str) -> None:
    body = (
        "<!doctype html><meta charset=utf-8><title>Forbidden</title>"
        "<h1>403 Forbidden</h1><p>" + reason + "</p>"
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 403,
            "headers": [
                (b"content-type", b"text/html; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _redirect(send: Send, location: str, cookie: str | None = None) -> None:
    headers = [(b"location", location.encode()), (b"cache-control", b"no-store"), (b"content-length", b"0")]
    if cookie is not None:
        headers.append((b"set-cookie", cookie.encode()))
    await send({"type": "http.response.start", "status": 303, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


class GuardMiddleware:
    """Runs the checks of `Guard` on every HTTP request before the app sees it."""

    def __init__(self, app: ASGIApp, guard: Guard) -> None:
        self.app = app
        self.guard = guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":
            return  # no websockets here: closing without accepting refuses them
        guard = self.guard
        headers = Headers(scope=scope)
        if not guard.host_ok(headers.get("host")):
            logger.warning(
                "refused a request for host %r (not a loopback name and port)", headers.get("host")
            )
            await _forbidden(send, "This dashboard answers only on this computer's loopback address.")
            return
        method = scope["method"]
        if method not in ("GET", "HEAD", "POST"):
            await _forbidden(send, "Method not allowed.")
            return
        cookies = cookie_parser(headers.get("cookie", ""))
        session = guard.session(cookies.get(guard.cookie_name))
        if scope["path"] == OPEN_PATH and method == "GET":
            await self._open(scope, send, session)
            return
        if session is None:
            await _forbidden(
                send,
                "This browser has no dashboard session. Open the link that <code>blacklist-agent ui</code> "
                "printed (it works once), or run <code>blacklist-agent ui</code> again for a new one.",
            )
            return
        if method == "POST":
            body = await _read_body(receive)
            if body is None:
                await _forbidden(send, "The form is too large.")
                return
            problem = guard.post_ok(headers, body, session)
            if problem is not None:
                logger.warning("refused a POST to %s: %s", scope["path"], problem)
                await _forbidden(send, problem)
                return
            receive = _replay(body, receive)
        scope.setdefault("state", {})["browser_session"] = session
        await self.app(scope, receive, send)

    async def _open(self, scope: Scope, send: Send, session: BrowserSession | None) -> None:
        key = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("key", [""])[0]
        token = self.guard.spend_key(key) if key else None
        if token is not None:
            cookie = f"{self.guard.cookie_name}={token}; HttpOnly; SameSite=Strict; Path=/"
            await _redirect(send, "/", cookie)
            return
        if session is not None:  # the link again, in a browser that already has a session
            await _redirect(send, "/")
            return
        await _forbidden(
            send,
            "This link was already used or has expired. Run <code>blacklist-agent ui</code> again for a "
            "new one.",
        )


async def _read_body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """The request body again for the app, then the real channel (for the disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def browser_session(scope_state: Any) -> BrowserSession:
    """The session the middleware attached to a request (`request.state`)."""
    session = getattr(scope_state, "browser_session", None)
    if not isinstance(session, BrowserSession):
        raise RuntimeError("request did not pass GuardMiddleware")
    return session
