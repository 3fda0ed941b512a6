"""`doctor`: check every part the agent depends on, one line each, with a hint for what fails.

Checks run in dependency order; a check whose prerequisite failed is reported as skipped rather than
failing again with a confusing message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import httpx
import typer

from agent.cli import hints
from agent.cli.app import (
    EXIT_FAILURE,
    JsonOption,
    app,
    cli_state,
    config_path,
    console,
    print_json,
    settings_from,
    warn,
)
from agent.config import Settings
from agent.errors import (
    AgentError,
    HubRejected,
    KeyringUnavailable,
    LoginNeedsHuman,
    SecretMissing,
    SelectorNotFound,
)
from agent.log import redact, with_config
from agent.secrets import SecretName, backend_password, check_keyring, env_secret
from agent.sync.reasons import reasons_warning

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    status: str  # "ok", "fail" or "skip"
    detail: str
    hint: str = ""

    @property
    def failed(self) -> bool:
        return self.status == "fail"


class _CheckFailed(Exception):
    def __init__(self, detail: str, hint: str = "") -> None:
        super().__init__(detail)
        self.hint = hint


def _run(name: str, probe: Callable[[], str], hint: str) -> Check:
    try:
        return Check(name, "ok", probe())
    except _CheckFailed as exc:
        return Check(name, "fail", str(exc), exc.hint or hint)
    except Exception as exc:  # doctor reports every failure instead of stopping at the first
        logger.info("doctor check %r failed", name, exc_info=exc)
        detail = str(exc) if isinstance(exc, AgentError) else f"{type(exc).__name__}: {exc}"
        return Check(name, "fail", redact(detail.strip().splitlines()[0] if detail.strip() else detail), hint)


SELECTORS_HINT = (
    "the seller center's pages may have changed: fix the selectors file named by backend.selectors "
    "(or add backend.selectors_override), see the selectors guide in selectors/README.md"
)


def _selectors(settings: Settings) -> str:
    from agent.backend.selectors import load_selectors

    site = load_selectors(settings.backend.selectors, settings.backend.selectors_override)
    return f"{site.name} layout {site.layout} ({site.source})"


def _browser(settings: Settings) -> str:
    from agent.backend.browser import launch_check

    return launch_check(settings)


def _reachable(url: str, timeout: float, *, healthz: bool = False) -> str:
    try:
        response = httpx.get(url, timeout=timeout, follow_redirects=True)
    except httpx.HTTPError as exc:
        raise _CheckFailed(f"{url}: {type(exc).__name__}: {exc}") from None
    if response.status_code >= 500 or (healthz and response.status_code != 200):
        raise _CheckFailed(f"{url} answered HTTP {response.status_code}")
    return f"{url} answered HTTP {response.status_code}"


def _keyring(settings: Settings) -> str:
    try:
        return check_keyring()
    except KeyringUnavailable:
        fallbacks = [n for n in SecretName if env_secret(n) is not None]
        needed = [SecretName.BACKEND_PASSWORD] + ([SecretName.HUB_TOKEN] if settings.hub.url else [])
        if all(n in fallbacks for n in needed):
            return "no keyring, but the environment fallbacks provide every secret"
        raise


def _login(settings: Settings) -> str:
    from agent.backend.login_guard import LoginGuard
    from agent.cli.app import open_store

    refusal = LoginGuard(settings.session_path).refusal()
    if refusal is not None:  # checking would be one more try of a refused password: say so instead
        raise _CheckFailed(refusal.describe(), "run `blacklist-agent login` with the current password")
    try:
        password = backend_password(settings)
    except SecretMissing as exc:
        raise _CheckFailed(str(exc), "run `blacklist-agent login`") from None
    try:
        with open_store(settings, password=password) as store:
            store.ensure_session()
    except LoginNeedsHuman as exc:
        raise _CheckFailed(str(exc), "run `blacklist-agent login --interactive`") from None
    except SelectorNotFound as exc:  # the pages, not the password: logging in again would not help
        raise _CheckFailed(str(exc), SELECTORS_HINT) from None
    return f"logged in as {settings.backend.username}"


def _hub_token(settings: Settings) -> str:
    from agent.hub_client import HubClient

    try:
        with HubClient.from_settings(settings) as client:
            me = client.me()
    except HubRejected as exc:
        # Name where the refused token came from (the environment wins over the keyring).
        raise _CheckFailed(str(exc), hints.for_error(exc) or "") from None
    return f"the hub knows this agent as {me.get('name')!s} (store {me.get('store_id')!s})"


def run_checks(ctx: typer.Context) -> list[Check]:
    try:
        settings = settings_from(ctx)
    except AgentError as exc:
        return config_failed(exc)
    return checks_for(settings, config_path(ctx))


def config_failed(exc: AgentError) -> list[Check]:
    """The checklist when the config does not load: that failure, and every other check skipped."""
    checks = [Check("config", "fail", str(exc), "fix the key named above, or run `blacklist-agent init`")]
    for name in ("selectors", "browser", "backend", "keyring", "login", "hub", "hub-token"):
        checks.append(Check(name, "skip", "needs a valid config"))
    return checks


def checks_for(settings: Settings, path: Path) -> list[Check]:
    """Every check after the config's, for loaded settings (the CLI and the dashboard's checklist)."""
    checks = [Check("config", "ok", str(path))]
    s = settings
    checks.append(
        _run(
            "selectors",
            lambda: _selectors(s),
            "fix the key named above in backend.selectors / backend.selectors_override "
            "(the selectors guide: selectors/README.md)",
        )
    )
    checks.append(
        _run(
            "browser",
            lambda: _browser(s),
            "install Chromium (`playwright install chromium`, or the system package `chromium`), "
            "or set browser.executable / browser.channel",
        )
    )
    backend = _run(
        "backend",
        lambda: _reachable(s.backend.base_url, s.backend.timeout_seconds),
        "check backend.base_url and the network",
    )
    checks.append(backend)
    keyring = _run("keyring", lambda: _keyring(s), "see the fixes listed above")
    checks.append(keyring)
    prerequisites = [c.name for c in checks if c.name in ("selectors", "browser", "backend") and c.failed]
    if prerequisites:
        checks.append(Check("login", "skip", "needs " + ", ".join(prerequisites)))
    else:
        checks.append(_run("login", lambda: _login(s), "run `blacklist-agent login`"))
    if s.hub.url is None:
        checks.append(Check("hub", "skip", "hub.url is not set (the agent works alone)"))
        checks.append(Check("hub-token", "skip", "hub.url is not set"))
        return checks
    hub_url = s.hub.url
    hub = _run(
        "hub",
        lambda: _reachable(f"{hub_url}/healthz", s.hub.timeout_seconds, healthz=True),
        "check hub.url and the network",
    )
    checks.append(hub)
    if hub.failed:
        checks.append(Check("hub-token", "skip", "needs the hub"))
    else:
        checks.append(
            _run(
                "hub-token",
                lambda: _hub_token(s),
                "store the token from the hub's operator: `blacklist-agent secrets set hub-token --stdin`",
            )
        )
    return checks


def _reasons_warning(ctx: typer.Context) -> str | None:
    """When policy.reasons can match nothing (agent.sync.reasons); None when the config does not load."""
    from agent.session import AgentSession

    try:
        settings = settings_from(ctx)
        if not settings.state_db_path.exists():
            return reasons_warning(settings.policy.reasons, settings.sharing.default_reason, [])
        with AgentSession(settings) as agent:
            return agent.reasons_warning()
    except AgentError:
        return None


_MARKS = {"ok": "[green]ok  [/]", "fail": "[bold red]FAIL[/]", "skip": "[dim]skip[/]"}


@app.command()
def doctor(ctx: typer.Context, json_output: JsonOption = False) -> None:
    """Check config, selectors, browser, backend, keyring, login, hub and hub token; one line each."""
    checks = [replace(c, detail=with_config(c.detail), hint=with_config(c.hint)) for c in run_checks(ctx)]
    if json_output:
        print_json([asdict(c) for c in checks])
    else:
        from rich.markup import escape

        for check in checks:
            line = f"{_MARKS[check.status]} {check.name:<10} {escape(check.detail)}"
            if check.failed and check.hint:
                line += f"\n{'':16}[yellow]hint:[/] {escape(check.hint)}"
            console.print(line, soft_wrap=True)
        policy_warning = _reasons_warning(ctx)
        if policy_warning:
            warn(policy_warning)
    if any(c.failed for c in checks):
        if cli_state(ctx).verbosity == 0 and not json_output:
            console.print("(details of each failure are in the log file; -v shows them here)", style="dim")
        raise typer.Exit(EXIT_FAILURE)
