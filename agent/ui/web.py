"""Rendering for the dashboard's routes: the Jinja environment, its filters, and the responses pages return.

Templates live in agent/ui/templates and are autoescaped; every page gets the browser session's CSRF token
(forms carry it, htmx sends it as a header) and the messages flashed to it by the previous action.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse

from agent.ui.dashboard import Dashboard
from agent.ui.security import BrowserSession, browser_session

T = TypeVar("T")

TEMPLATES = Path(__file__).resolve().parent / "templates"
STATIC = Path(__file__).resolve().parent / "static"

NAV = (
    ("/", "Home"),
    ("/sync", "Sync now"),
    ("/share", "Share all"),
    ("/blacklist", "Blacklist"),
    ("/review", "Review"),
    ("/alerts", "Alerts"),
    ("/allowlist", "Allowlist"),
    ("/audit", "Audit"),
    ("/settings", "Settings"),
    ("/logs", "Logs"),
    ("/setup", "Setup"),
)


def _as_datetime(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return None


def when(value: object) -> str:
    """A time in the machine's local time zone, to the minute ("" when unknown)."""
    moment = _as_datetime(value)
    if moment is None:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone().strftime("%Y-%m-%d %H:%M")


def ago(value: object) -> str:
    """How long ago, in words a seller reads at a glance."""
    moment = _as_datetime(value)
    if moment is None:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    seconds = (datetime.now(UTC) - moment).total_seconds()
    future = seconds < 0
    seconds = abs(seconds)
    if seconds < 60:
        text = "less than a minute"
    elif seconds < 3600:
        text = _plural(int(seconds // 60), "minute")
    elif seconds < 86400:
        text = _plural(int(seconds // 3600), "hour")
    else:
        text = _plural(int(seconds // 86400), "day")
    return f"in {text}" if future else f"{text} ago"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def plural(n: int, word: str, words: str | None = None) -> str:
    """`1 reporter`, `2 reporters` (never "1 reporters")."""
    return f"{n} {word}" if n == 1 else f"{n} {words or word + 's'}"


def reasons(value: Mapping[str, int] | None) -> str:
    if not value:
        return "none given"
    return ", ".join(f"{k.replace('_', ' ')} ×{v}" for k, v in sorted(value.items()))


# What to do, in the dashboard, about each of doctor's checks when it fails.
FIXES = {
    "config": "Fill in “Your store” above and save it.",
    "selectors": "Choose the site layout that matches your seller center under “Your store”, or fix your "
    "selectors file.",
    "browser": "Install Chromium (the `chromium` package, or `playwright install chromium`), or set "
    "browser.executable / browser.channel in the config file.",
    "backend": "Check the seller center address under “Your store”, and this computer's internet connection.",
    "keyring": "This computer has no usable keyring to keep passwords: see the message above for the fixes.",
    "login": "Log in under “Log in to your seller center” (type the one-time code there if asked).",
    "hub": "Check the hub address under “Sharing hub”, and the internet connection.",
    "hub-token": "Paste the token your hub operator gave you under “Sharing hub”.",
}


ACTION_NAMES = {
    "add": "Blacklisted by the agent",
    "retract": "Retracted",
    "undo": "Undone by you",
    "evict": "Removed to make room",
    "allow": "Allowlisted",
    "disallow": "Taken off the allowlist",
    "seller_removed": "Removed by you in the store",
    "add_refused": "Refused by the store",
    "review_blacklisted": "Blacklisted by you (review)",
    "alert_dismissed": "Alert dismissed",
}


def action_name(action: str) -> str:
    return ACTION_NAMES.get(action, action.replace("_", " ").capitalize())


def details(value: Mapping[str, Any] | None) -> str:
    """An audit record's details in words (never a raw dict)."""
    if not value:
        return ""
    d = dict(value)
    parts: list[str] = []
    if "reporters" in d:
        parts.append(plural(int(d.pop("reporters") or 0), "store") + " reporting")
    if "score" in d:
        parts.append(f"score {d.pop('score')}")
    if "reasons" in d:
        parts.append("reasons: " + reasons(d.pop("reasons")))
    if "reason" in d:
        parts.append(str(d.pop("reason")))
    if "outcome" in d:
        parts.append(f"store said: {str(d.pop('outcome')).replace('_', ' ')}")
    if "was" in d and isinstance(d["was"], Mapping):
        was = d.pop("was")
        parts.append(
            f"added from {plural(int(was.get('reporters') or 0), 'store')}, score {was.get('score', '?')}"
        )
    if d.pop("allowlisted", False):
        parts.append("now allowlisted")
    if "to_make_room_for" in d:
        parts.append(f"to make room for {d.pop('to_make_room_for')}")
    if "order_id" in d:
        parts.append(f"order {d.pop('order_id')}")
    for key in ("hub_entry", "last_reported_at", "by"):
        d.pop(key, None)
    parts += [f"{k.replace('_', ' ')}: {v}" for k, v in sorted(d.items())]
    return "; ".join(parts)


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,  # a misspelt variable fails the test instead of rendering blank
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(when=when, ago=ago, reasons=reasons, details=details, action_name=action_name)
    env.globals.update(plural=plural, nav=NAV, fixes=FIXES)
    return env


ENV = _environment()


def session_of(request: Request) -> BrowserSession:
    return browser_session(request.state)


def dashboard_of(request: Request) -> Dashboard:
    dashboard = request.app.state.dashboard
    assert isinstance(dashboard, Dashboard)
    return dashboard


def render(request: Request, template: str, *, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A whole page (or, for names starting with `_`, a fragment htmx swaps in)."""
    session = session_of(request)
    dashboard = dashboard_of(request)
    page_context: dict[str, Any] = {
        "request": request,
        "csrf": session.csrf,
        "path": request.url.path,
        "configured": dashboard.configured(),
        "running_job": dashboard.jobs.running(),
    }
    if not template.startswith("_"):
        page_context["flashes"] = session.take_flashes()
    page_context.update(context)
    html = ENV.get_template(template).render(page_context)
    return HTMLResponse(html, status_code=status_code, headers={"cache-control": "no-store"})


def redirect(request: Request, to: str, message: str | None = None, kind: str = "info") -> RedirectResponse:
    """After a POST: show `to` (303, so a reload does not post again), with a message on top."""
    if message:
        session_of(request).flash(message, kind)
    return RedirectResponse(to, status_code=303)


def form_text(form: Mapping[str, Any], name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


async def in_thread(work: Callable[[], T]) -> T:
    """Blocking work (the local state, a config file) off the event loop, from an async route."""
    return await run_in_threadpool(work)
