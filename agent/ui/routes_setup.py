"""The first-run setup page: the same config file and keyring entries as `init`, `login` and `secrets set`.

Four steps on one page, each usable again later: the store (seller center address, login, site layout,
data folder), the login (a human login: the password typed here, and a one-time code typed here when the
seller center asks for one), the sharing hub (address and token), then `doctor`'s checks as a checklist with
the fix for each failure. Everything goes through agent/onboarding.py, as the CLI does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from agent.config import Settings, load_settings
from agent.errors import AgentError, ConfigError
from agent.onboarding import SetupValues, human_login, store_hub_token, update_config, write_config
from agent.secrets import SecretName, get_secret
from agent.ui.jobs import Job
from agent.ui.web import dashboard_of, form_text, in_thread, redirect, render


def _stored(settings: Settings | None, name: SecretName) -> bool:
    if settings is None or (name is SecretName.HUB_TOKEN and settings.hub.url is None):
        return False
    try:
        get_secret(settings, name)
    except AgentError:
        return False
    return True


def _page(request: Request, *, values: dict[str, str] | None = None, error: str | None = None) -> Response:
    from agent.backend.selectors import shipped_stems

    dashboard = dashboard_of(request)
    settings: Settings | None
    problem: str | None = None
    try:
        settings = dashboard.settings()
    except ConfigError as exc:
        settings = None
        if dashboard.config_path.exists():  # a file that does not load (a first run has none)
            problem = str(exc)
    current = {
        "base_url": settings.backend.base_url if settings else "",
        "username": settings.backend.username if settings else "",
        "selectors": settings.backend.selectors if settings else "mock-v1",
        "data_dir": str(settings.data_dir) if settings else "",
        "hub_url": (settings.hub.url or "") if settings else "",
    }
    current.update(values or {})
    stems = shipped_stems()
    return render(
        request,
        "setup.html",
        status_code=400 if error else 200,
        values=current,
        error=error,
        config_problem=problem,
        stems=stems,
        custom_selectors=current["selectors"] not in stems,
        config_path=dashboard.config_path,
        config_exists=dashboard.config_path.exists(),
        settings=settings,
        password_stored=_stored(settings, SecretName.BACKEND_PASSWORD),
        token_stored=_stored(settings, SecretName.HUB_TOKEN),
        login_job=dashboard.jobs.latest("login"),
        checks_job=dashboard.jobs.latest("checks"),
    )


def setup_page(request: Request) -> Response:
    return _page(request)


async def save_store(request: Request) -> Response:
    form = await request.form()
    fields = {
        k: form_text(form, k) for k in ("base_url", "username", "selectors", "selectors_path", "data_dir")
    }
    selectors = fields["selectors_path"] if fields["selectors"] == "custom" else fields["selectors"]
    if not fields["base_url"] or not fields["username"]:
        return _page(
            request, values=fields, error="The seller center address and your login are both needed."
        )
    values = SetupValues(
        base_url=fields["base_url"],
        username=fields["username"],
        selectors=selectors or None,
        data_dir=Path(fields["data_dir"]) if fields["data_dir"] else None,
    )
    dashboard = dashboard_of(request)
    path = dashboard.config_path

    def save() -> Settings:
        if path.exists():
            return update_config(path, values.sections())
        return write_config(path, values)

    try:
        settings = await in_thread(save)
    except AgentError as exc:
        return _page(request, values=fields, error=str(exc))
    dashboard.forget_settings()
    return redirect(
        request,
        "/setup#login",
        f"Saved {path}: {settings.backend.base_url} as {settings.backend.username}. Next: log in.",
        "success",
    )


async def start_login(request: Request) -> Response:
    form = await request.form()
    password = form.get("password")
    if not isinstance(password, str) or not password:
        return redirect(request, "/setup#login", "Type your seller center password.", "error")
    dashboard = dashboard_of(request)
    try:
        settings = dashboard.settings()
    except ConfigError:
        return redirect(request, "/setup", "Save “Your store” first.", "error")

    def work(job: Job) -> Any:
        return human_login(settings, password, otp_prompt=job.ask_code)

    job, started = dashboard.jobs.start(
        "login", f"Log in as {settings.backend.username}", work, back="/setup"
    )
    if not started:
        return redirect(request, "/setup#login", f"Please wait: “{job.title}” is still running.", "warning")
    return redirect(request, "/setup#login")


async def save_hub(request: Request) -> Response:
    form = await request.form()
    hub_url = form_text(form, "hub_url")
    token = form_text(form, "hub_token")
    dashboard = dashboard_of(request)
    path = dashboard.config_path
    if not path.exists():
        return redirect(request, "/setup", "Save “Your store” first.", "error")

    def save() -> tuple[Settings, bool]:
        if hub_url:
            settings = update_config(path, {"hub": {"url": hub_url}})
        else:
            settings = update_config(path, {}, remove={"hub": {"url": None}})
        env_wins = store_hub_token(settings, token) if token else False
        return settings, env_wins

    try:
        settings, env_wins = await in_thread(save)
    except AgentError as exc:
        return _page(request, values={"hub_url": hub_url}, error=str(exc))
    dashboard.forget_settings()
    if settings.hub.url is None:
        return redirect(
            request, "/setup#hub", "No hub: the agent works alone (nothing is shared).", "success"
        )
    message = f"Saved the hub {settings.hub.url}" + (" and its token." if token else ".")
    if env_wins:
        message += f" Note: ${SecretName.HUB_TOKEN.env_var} is set and takes precedence over the keyring."
    return redirect(request, "/setup#checks", message + " Next: run the checks.", "success")


async def start_checks(request: Request) -> Response:
    from agent.cli.doctor_cmd import checks_for, config_failed

    dashboard = dashboard_of(request)
    path = dashboard.config_path

    def work(job: Job) -> Any:
        try:
            settings = load_settings(path)
        except AgentError as exc:
            return config_failed(exc)
        return checks_for(settings, path)

    job, started = dashboard.jobs.start("checks", "Check everything", work, back="/setup")
    if not started:
        return redirect(request, "/setup#checks", f"Please wait: “{job.title}” is still running.", "warning")
    return redirect(request, "/setup#checks")


routes = [
    Route("/setup", setup_page),
    Route("/setup/store", save_store, methods=["POST"]),
    Route("/setup/login", start_login, methods=["POST"]),
    Route("/setup/hub", save_hub, methods=["POST"]),
    Route("/setup/checks", start_checks, methods=["POST"]),
]
