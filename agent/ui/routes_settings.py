"""The settings page: the schedule and the policy, with a live preview of what new values would do.

The preview runs the policy's pure functions (`decide`, `retractions`) over the shared list the agent has
cached and the store's blacklist as last read: no browser, no hub, nothing changed. Saving writes the keys
into the config file in place (comments and other keys kept) after validating them as the agent would.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from agent.config import PolicySettings, ScheduleSettings
from agent.errors import AgentError
from agent.hub_models import REASONS
from agent.onboarding import update_config
from agent.sync.policy import Policy
from agent.ui.views import PolicyPreview, policy_preview
from agent.ui.web import dashboard_of, form_text, in_thread, redirect, render

INT_FIELDS = ("min_reporters", "max_new_per_sync", "protect_min_orders")


class FormProblem(ValueError):
    """A settings form value that cannot be used; the message names the field."""


def _read_form(form: Mapping[str, Any], getlist: Any) -> tuple[PolicySettings, int]:
    """The policy and interval the form asks for, validated as the config loader would."""
    values: dict[str, Any] = {}
    for name in INT_FIELDS:
        text = form_text(form, name)
        if not text.lstrip("-").isdigit():
            raise FormProblem(f"{name.replace('_', ' ')}: a whole number is needed")
        values[name] = int(text)
    score = form_text(form, "min_score")
    if score:
        # Scores run from 0 to 100 (README, "Entries and the score"); above 100 would silently add nobody.
        if not score.isdigit() or int(score) > 100:
            raise FormProblem("min score: a whole number between 0 and 100, or empty for none")
        values["min_score"] = int(score)
    values["reasons"] = [r for r in getlist("reasons") if r in REASONS]
    interval = form_text(form, "interval_minutes")
    if not interval.isdigit() or int(interval) < 1:
        raise FormProblem("sync every: a whole number of minutes, at least 1")
    try:
        policy = PolicySettings(**values)
        ScheduleSettings(interval_minutes=int(interval))
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        field = ".".join(str(p) for p in first["loc"]).replace("_", " ")
        raise FormProblem(f"{field}: {first['msg'].removeprefix('Value error, ')}") from None
    return policy, int(interval)


def settings_page(request: Request) -> Response:
    dashboard = dashboard_of(request)
    if not dashboard.configured():
        return redirect(request, "/setup", "Let's set the agent up first.")
    settings = dashboard.settings()
    with dashboard.session() as agent:
        try:
            preview: PolicyPreview | None = policy_preview(agent.state, agent.policy)
        except AgentError:
            preview = None
    process = dashboard.background.status(settings, dashboard.config_path)
    return render(
        request,
        "settings.html",
        policy=settings.policy,
        interval=settings.schedule.interval_minutes,
        reasons=REASONS,
        current=preview,
        preview=preview,
        problem=None,
        agent_running=process.running,
    )


async def settings_preview(request: Request) -> Response:
    form = await request.form()
    dashboard = dashboard_of(request)
    try:
        policy_settings, _ = _read_form(form, form.getlist)
        policy = Policy.from_settings(policy_settings)
    except (FormProblem, AgentError) as exc:
        return render(request, "_policy_preview.html", preview=None, current=None, problem=str(exc))

    def compute() -> tuple[PolicyPreview, PolicyPreview | None]:
        with dashboard.session() as agent:
            try:
                current: PolicyPreview | None = policy_preview(agent.state, agent.policy)
            except AgentError:
                current = None
            return policy_preview(agent.state, policy), current

    preview, current = await in_thread(compute)
    return render(request, "_policy_preview.html", preview=preview, current=current, problem=None)


async def settings_save(request: Request) -> Response:
    form = await request.form()
    dashboard = dashboard_of(request)
    try:
        policy_settings, interval = _read_form(form, form.getlist)
        Policy.from_settings(policy_settings)
    except (FormProblem, AgentError) as exc:
        return redirect(request, "/settings", f"Not saved: {exc}", "error")
    changes: dict[str, dict[str, object]] = {
        "schedule": {"interval_minutes": interval},
        "policy": {
            "min_reporters": policy_settings.min_reporters,
            "reasons": list(policy_settings.reasons),
            "max_new_per_sync": policy_settings.max_new_per_sync,
            "protect_min_orders": policy_settings.protect_min_orders,
        },
    }
    remove: dict[str, dict[str, object]] = {}
    if policy_settings.min_score is None:
        remove["policy"] = {"min_score": None}
    else:
        changes["policy"]["min_score"] = policy_settings.min_score
    try:
        await in_thread(lambda: update_config(dashboard.config_path, changes, remove=remove))
    except AgentError as exc:
        return redirect(request, "/settings", f"Not saved: {exc}", "error")
    dashboard.forget_settings()
    process = dashboard.background.status(dashboard.settings(), dashboard.config_path)
    message = "Settings saved."
    if process.running:
        message += " The background agent uses them after a restart (Restart on Home)."
    return redirect(request, "/settings", message, "success")


routes = [
    Route("/settings", settings_page),
    Route("/settings/preview", settings_preview, methods=["POST"]),
    Route("/settings", settings_save, methods=["POST"]),
]
