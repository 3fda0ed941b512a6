"""The dashboard's long actions: Sync now and Share all (each with a dry-run preview), undo, remove, blacklist
from the review list, and the background agent's start, stop, restart, install and uninstall.

Each long action runs as a job (agent/ui/jobs.py) through its own `AgentSession`; the page polls
`/jobs/<id>` with htmx and shows the counters (entries read, reports pushed, buyers added) as they move, then
the result. Without JavaScript the same page still works: the job page reloads itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from agent.ui.dashboard import Dashboard
from agent.ui.jobs import Job
from agent.ui.web import dashboard_of, form_text, in_thread, redirect, render

RESTART_WAIT_SECONDS = 180  # the agent finishes its current action first (its stop grace is 120 s)


def _start(
    request: Request, kind: str, title: str, work: Callable[[Job], Any], *, back: str, to: str | None = None
) -> Response:
    job, started = dashboard_of(request).jobs.start(kind, title, work, back=back)
    return _started(request, job, started, to=to)


def _started(request: Request, job: Job, started: bool, *, to: str | None = None) -> Response:
    if not started:
        return redirect(
            request, f"/jobs/{job.id}", f"Please wait: “{job.title}” is still running.", "warning"
        )
    return redirect(request, to or f"/jobs/{job.id}")


# -- sync and share-all -----------------------------------------------------------------------------


def sync_page(request: Request) -> Response:
    dashboard = dashboard_of(request)
    if not dashboard.configured():
        return redirect(request, "/setup", "Let's set the agent up first.")
    return render(request, "sync.html", job=dashboard.jobs.latest("sync"))


async def sync_start(request: Request) -> Response:
    dry_run = form_text(await request.form(), "mode") != "run"
    job, started = dashboard_of(request).start_sync(dry_run=dry_run)
    return _started(request, job, started, to="/sync")


def share_page(request: Request) -> Response:
    dashboard = dashboard_of(request)
    if not dashboard.configured():
        return redirect(request, "/setup", "Let's set the agent up first.")
    return render(request, "share.html", job=dashboard.jobs.latest("share"))


async def share_start(request: Request) -> Response:
    dry_run = form_text(await request.form(), "mode") != "run"
    job, started = dashboard_of(request).start_share(dry_run=dry_run)
    return _started(request, job, started, to="/share")


# -- one buyer ----------------------------------------------------------------------------------------


async def undo_start(request: Request) -> Response:
    member_id = form_text(await request.form(), "member_id")
    dashboard = dashboard_of(request)

    def work(job: Job) -> Any:
        with dashboard.session() as agent:
            return agent.undo(member_id, progress=job.progress)

    return _start(request, "undo", f"Undo {member_id}", work, back="/blacklist")


async def remove_start(request: Request) -> Response:
    member_id = form_text(await request.form(), "member_id")
    dashboard = dashboard_of(request)

    def work(job: Job) -> Any:
        with dashboard.session() as agent:
            return agent.remove(member_id)

    return _start(request, "remove", f"Remove {member_id} from your blacklist", work, back="/blacklist")


async def add_start(request: Request) -> Response:
    """The seller blacklists a buyer by hand, with a reason; the report goes to the hub at once."""
    form = await request.form()
    member_id, name, reason = (form_text(form, key) for key in ("member_id", "name", "reason"))
    dashboard = dashboard_of(request)

    def work(job: Job) -> Any:
        with dashboard.session() as agent:
            result, shared = agent.blacklist_add(member_id, name, reason=reason or None)
        return {
            "member_id": member_id,
            "name": name,
            "ok": result.ok,
            "outcome": result.outcome.value,
            "message": result.message,
            "reason": shared.reason if shared else reason,
            "recorded": bool(shared and shared.recorded),
            "pushed": bool(shared and shared.pushed),
            "problem": shared.problem if shared else None,
        }

    return _start(request, "add", f"Blacklist {member_id}", work, back="/blacklist")


async def review_blacklist_start(request: Request) -> Response:
    member_id = form_text(await request.form(), "member_id")
    dashboard = dashboard_of(request)

    def work(job: Job) -> Any:
        with dashboard.session() as agent:
            return agent.blacklist_reviewed(member_id, progress=job.progress)

    return _start(request, "review", f"Blacklist {member_id}", work, back="/review")


# -- the job page -------------------------------------------------------------------------------------


def job_page(request: Request) -> Response:
    job = dashboard_of(request).jobs.get(request.path_params["job_id"])
    if job is None:
        return redirect(request, "/", "That action is no longer listed (the dashboard keeps the last 30).")
    if request.headers.get("hx-request"):
        # "Back" belongs on the job's own page, not inside the page that started it.
        on_job_page = urlsplit(request.headers.get("hx-current-url", "")).path.startswith("/jobs/")
        return render(request, "_job.html", job=job, show_back=on_job_page)
    return render(request, "job.html", job=job, show_back=True)


def running_pill(request: Request) -> Response:
    return render(request, "_busy_pill.html")


async def job_code(request: Request) -> Response:
    form = await request.form()
    job = dashboard_of(request).jobs.get(request.path_params["job_id"])
    if job is None:
        return redirect(request, "/setup", "That login is no longer running; log in again.", "error")
    code = form_text(form, "code")
    if not code:
        if request.headers.get("hx-request"):
            return render(request, "_job.html", job=job, code_error="Type the code you received.")
        return redirect(request, job.back, "Type the code you received.", "error")
    job.give_code(code)
    if request.headers.get("hx-request"):
        return render(request, "_job.html", job=job)
    return redirect(request, job.back)


async def job_stop(request: Request) -> Response:
    job = dashboard_of(request).jobs.get(request.path_params["job_id"])
    if job is not None and job.running:
        job.stop.set()
        return redirect(request, job.back, "Stopping after the current step…")
    return redirect(request, "/")


# -- the background agent -----------------------------------------------------------------------------


async def agent_start(request: Request) -> Response:
    dashboard = dashboard_of(request)

    def start() -> tuple[str, str]:
        settings = dashboard.settings()
        background = dashboard.background
        if background.status(settings, dashboard.config_path).running:
            return "The background agent is already running.", "info"
        child = background.start(dashboard.config_path, settings)
        code = background.settle(child, settings)
        if code is not None:
            return f"The background agent stopped at once (exit code {code}): see Logs for why.", "error"
        started = f"Started the background agent (process {child.pid}). It syncs now, then on its schedule."
        return started, "info"

    message, kind = await in_thread(start)
    return redirect(request, "/", message, kind)


async def agent_stop(request: Request) -> Response:
    dashboard = dashboard_of(request)
    pid = await in_thread(lambda: dashboard.background.stop(dashboard.settings()))
    if pid is None:
        return redirect(request, "/", "The background agent was not running.")
    return redirect(
        request,
        "/",
        f"Asked the background agent (process {pid}) to stop; it finishes its current step first.",
    )


async def agent_restart(request: Request) -> Response:
    dashboard = dashboard_of(request)
    return _start(request, "agent", "Restart the background agent", _restart(dashboard), back="/")


def _restart(dashboard: Dashboard) -> Callable[[Job], str]:
    def work(job: Job) -> str:
        settings = dashboard.settings()
        background = dashboard.background
        if background.stop(settings) is not None:
            deadline = time.monotonic() + RESTART_WAIT_SECONDS
            while background.status(settings, dashboard.config_path).running:
                if time.monotonic() > deadline or job.stop.is_set():
                    return "The background agent is still finishing its current step; try Start again later."
                time.sleep(0.5)
        child = background.start(dashboard.config_path, settings)
        code = background.settle(child, settings)
        if code is not None:
            return f"The background agent stopped at once (exit code {code}): see Logs for why."
        return f"Restarted the background agent (process {child.pid}) with the current settings."

    return work


async def agent_install(request: Request) -> Response:
    dashboard = dashboard_of(request)
    plan, outcome = await in_thread(
        lambda: dashboard.background.install(dashboard.settings(), dashboard.config_path)
    )
    if outcome is None:  # no service manager here: nothing was written (as `service install` does)
        return redirect(
            request, "/", f"{plan.service_name} was NOT installed: {plan.manager_problem}", "error"
        )
    if not outcome.ok:
        failed = next(f"{' '.join(a)} (exit {c}): {o}" for a, c, o in outcome.commands_run if c != 0)
        return redirect(request, "/", f"Installing {plan.service_name} failed: {failed}", "error")
    return redirect(
        request, "/", f"{plan.service_name} is installed: it starts at every login, and runs now."
    )


async def agent_uninstall(request: Request) -> Response:
    dashboard = dashboard_of(request)
    plan, outcome = await in_thread(
        lambda: dashboard.background.uninstall(dashboard.settings(), dashboard.config_path)
    )
    if not outcome.files_removed:
        return redirect(request, "/", f"{plan.service_name} was not installed.")
    message = f"{plan.service_name} no longer starts at login."
    if outcome.commands_to_run:
        message += " Also run: " + "; ".join(" ".join(argv) for argv in outcome.commands_to_run)
    return redirect(request, "/", message)


routes = [
    Route("/sync", sync_page),
    Route("/sync/start", sync_start, methods=["POST"]),
    Route("/share", share_page),
    Route("/share/start", share_start, methods=["POST"]),
    Route("/blacklist/undo", undo_start, methods=["POST"]),
    Route("/blacklist/remove", remove_start, methods=["POST"]),
    Route("/blacklist/add", add_start, methods=["POST"]),
    Route("/review/blacklist", review_blacklist_start, methods=["POST"]),
    Route("/jobs/running", running_pill),
    Route("/jobs/{job_id}", job_page),
    Route("/jobs/{job_id}/code", job_code, methods=["POST"]),
    Route("/jobs/{job_id}/stop", job_stop, methods=["POST"]),
    Route("/agent/start", agent_start, methods=["POST"]),
    Route("/agent/stop", agent_stop, methods=["POST"]),
    Route("/agent/restart", agent_restart, methods=["POST"]),
    Route("/agent/install", agent_install, methods=["POST"]),
    Route("/agent/uninstall", agent_uninstall, methods=["POST"]),
]
