"""The seller's local dashboard (`blacklist-agent ui`): set up, share, sync, review and undo in a browser.

    server.py     uvicorn on 127.0.0.1 only; the one-time opening link
    security.py   Host check, one-time key → HttpOnly SameSite=Strict cookie, CSRF on every POST; else 403
    app.py        the Starlette app: routes, static files (htmx ships here: no CDN), security headers
    dashboard.py  one agent's config file, settings and `AgentSession`s; jobs.py long actions in threads
    routes_*.py   the pages; views.py what they show, computed from the local state; web.py rendering
    background.py the background agent: running, start, stop, install at login (agent.service)

Every change goes through `AgentSession`, like the CLI's, so the dashboard and a running background agent
share the cycle lock and the state safely.
"""

from __future__ import annotations

from agent.ui.dashboard import Dashboard
from agent.ui.server import DashboardServer

__all__ = ["Dashboard", "DashboardServer"]
