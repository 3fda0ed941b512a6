"""The dashboard's ASGI app: routes, static files (htmx ships in the package: no CDN, works offline), the
guard in front of everything, and the headers that keep the pages to themselves.
"""

from __future__ import annotations

import logging

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agent.errors import AgentError, ConfigError, CycleBusy
from agent.log import redact
from agent.ui import routes_jobs, routes_pages, routes_settings, routes_setup
from agent.ui.dashboard import Dashboard
from agent.ui.security import GuardMiddleware
from agent.ui.web import STATIC, redirect, render

logger = logging.getLogger(__name__)

# Scripts, styles and images only from the dashboard itself; no framing (clickjacking); forms post only here;
# no Referer to other sites. (Not "no-referrer": with it, browsers send `Origin: null` on the dashboard's own
# form posts, which the guard refuses as it would a sandboxed attacker's.)
SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        b"connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    ),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _agent_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, ConfigError):
        return redirect(request, "/setup", f"The configuration needs attention: {exc}", "error")
    if isinstance(exc, CycleBusy):
        message = (
            "The agent is busy with a sync right now (perhaps the background agent). Try again in a minute."
        )
    else:
        logger.info("dashboard request failed: %s", exc, exc_info=exc)
        message = redact(str(exc))
    return render(
        request, "error.html", status_code=409 if isinstance(exc, CycleBusy) else 500, message=message
    )


async def _not_found(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 404
    return render(request, "error.html", status_code=status, message="There is no such page here.")


def create_app(dashboard: Dashboard) -> Starlette:
    """The dashboard for `dashboard`'s agent, guarded (see agent/ui/security.py)."""
    routes = [
        *routes_pages.routes,
        *routes_jobs.routes,
        *routes_setup.routes,
        *routes_settings.routes,
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(SecurityHeaders), Middleware(GuardMiddleware, guard=dashboard.guard)],
        exception_handlers={AgentError: _agent_error, 404: _not_found, 405: _not_found},
    )
    app.state.dashboard = dashboard
    return app
