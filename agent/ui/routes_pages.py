"""The dashboard's reading pages and their quick actions: Home, Blacklist, Review, Alerts, Allowlist, Audit,
Logs.

Quick actions (allow, take off the allowlist, dismiss) change only the local state and answer at once;
actions that need the store (undo, remove, blacklist from review) start a job (agent/ui/routes_jobs.py).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from agent.errors import AgentError
from agent.hub_models import REASONS
from agent.ui.views import blacklist_page, log_tail, why_card
from agent.ui.web import dashboard_of, form_text, in_thread, redirect, render


def _needs_setup(request: Request) -> Response | None:
    if not dashboard_of(request).configured():
        return redirect(request, "/setup", "Let's set the agent up first.")
    return None


def _fragment_wanted(request: Request) -> bool:
    # htmx restoring a page from history (with no cache) wants the whole page, not the fragment.
    headers = request.headers
    return bool(headers.get("hx-request")) and not headers.get("hx-history-restore-request")


def home(request: Request) -> Response:
    if (early := _needs_setup(request)) is not None:
        return early
    dashboard = dashboard_of(request)
    settings = dashboard.settings()
    with dashboard.session() as agent:
        status = agent.status()
        outbox = agent.state.outbox.items(include_rejected=True)
    process = dashboard.background.status(settings, dashboard.config_path)
    return render(
        request,
        "home.html",
        status=status,
        process=process,
        outbox=outbox[:10],
        settings=settings,
        hub_configured=settings.hub.url is not None,
    )


def blacklist(request: Request) -> Response:
    if (early := _needs_setup(request)) is not None:
        return early
    params = request.query_params
    search = params.get("q", "")
    origin = params.get("origin", "")
    try:
        page_number = int(params.get("page", "1"))
    except ValueError:
        page_number = 1
    dashboard = dashboard_of(request)
    with dashboard.session() as agent:
        try:
            policy = agent.policy
        except AgentError:
            policy = None
        page = blacklist_page(agent.state, search=search, origin=origin, page=page_number, policy=policy)
    template = "_blacklist_table.html" if _fragment_wanted(request) else "blacklist.html"
    return render(
        request,
        template,
        page=page,
        search=search,
        origin=origin,
        reasons=REASONS,
        default_reason=dashboard.settings().sharing.default_reason,
    )


def review(request: Request) -> Response:
    if (early := _needs_setup(request)) is not None:
        return early
    with dashboard_of(request).session() as agent:
        items = agent.state.review.items()
        cards = {i.member_id: why_card(agent.state, i.member_id, name=i.name) for i in items}
    return render(request, "review.html", items=items, cards=cards)


async def review_dismiss(request: Request) -> Response:
    form = await request.form()
    member_id = form_text(form, "member_id")
    dashboard = dashboard_of(request)

    def dismiss() -> bool:
        with dashboard.session() as agent:
            return agent.allow(member_id)

    added = await in_thread(dismiss)
    message = f"{member_id} is on your allowlist: the agent will never blacklist them automatically."
    return redirect(request, "/review", message if added else f"{member_id} was already on your allowlist.")


def alerts(request: Request) -> Response:
    if (early := _needs_setup(request)) is not None:
        return early
    with dashboard_of(request).session() as agent:
        items = agent.state.alerts.recent(limit=200)
        cards = {a.member_id: why_card(agent.state, a.member_id, name=a.name) for a in items}
    return render(request, "alerts.html", items=items, cards=cards)


async def alert_dismiss(request: Request) -> Response:
    form = await request.form()
    order_id = form_text(form, "order_id")
    dashboard = dashboard_of(request)

    def dismiss() -> bool:
        with dashboard.session() as agent:
            return agent.dismiss_alert(order_id)

    done = await in_thread(dismiss)
    return redirect(
        request, "/alerts", f"Alert for order {order_id} dismissed." if done else "No such alert."
    )


def allowlist(request: Request) -> Response:
    if (early := _needs_setup(request)) is not None:
        return early
    with dashboard_of(request).session() as agent:
        entries = agent.state.allowlist.entries()
        automatic = set(agent.state.blacklist.automatic())
    return render(request, "allowlist.html", entries=entries, automatic=automatic)


async def allowlist_add(request: Request) -> Response:
    form = await request.form()
    member_id = form_text(form, "member_id")
    back = "/blacklist" if form_text(form, "back") == "blacklist" else "/allowlist"
    if not member_id or not member_id.isdigit():
        return redirect(request, back, "A Member ID is a number, e.g. 100234.", "error")
    dashboard = dashboard_of(request)

    def allow() -> tuple[bool, bool]:
        with dashboard.session() as agent:
            return agent.allow(member_id), member_id in agent.state.blacklist.automatic()

    added, still = await in_thread(allow)
    message = (
        f"{member_id} is now on your allowlist: the agent will never blacklist them automatically."
        if added
        else f"{member_id} was already on your allowlist."
    )
    if still:
        message += " The agent had already blacklisted them: use Undo on the Blacklist page to remove it."
    return redirect(request, back, message)


async def allowlist_remove(request: Request) -> Response:
    form = await request.form()
    member_id = form_text(form, "member_id")
    dashboard = dashboard_of(request)

    def disallow() -> bool:
        with dashboard.session() as agent:
            return agent.disallow(member_id)

    removed = await in_thread(disallow)
    message = (
        f"{member_id} is off your allowlist: the policy may blacklist them again when enough stores report "
        "them."
        if removed
        else f"{member_id} was not on your allowlist."
    )
    return redirect(request, "/allowlist", message)


def audit(request: Request) -> Response:
    if (early := _needs_setup(request)) is not None:
        return early
    with dashboard_of(request).session() as agent:
        entries = list(agent.state.blacklist.automatic().values())
        log = agent.state.audit.recent(limit=200)
        cards = {e.member_id: why_card(agent.state, e.member_id, name=e.name) for e in entries}
    return render(request, "audit.html", entries=entries, log=log, cards=cards)


def logs(request: Request) -> Response:
    if (early := _needs_setup(request)) is not None:
        return early
    dashboard = dashboard_of(request)
    with dashboard.session() as agent:
        cycles = agent.state.cycles.recent(limit=30)
    path, lines = log_tail(dashboard.settings().log_dir)
    return render(request, "logs.html", cycles=cycles, log_path=path, lines=lines)


routes = [
    Route("/", home),
    Route("/blacklist", blacklist),
    Route("/review", review),
    Route("/review/dismiss", review_dismiss, methods=["POST"]),
    Route("/alerts", alerts),
    Route("/alerts/dismiss", alert_dismiss, methods=["POST"]),
    Route("/allowlist", allowlist),
    Route("/allowlist/add", allowlist_add, methods=["POST"]),
    Route("/allowlist/remove", allowlist_remove, methods=["POST"]),
    Route("/audit", audit),
    Route("/logs", logs),
]
