"""The agent as a background process: `run`, `service install | uninstall | status`, and `demo`."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Annotated

import typer

from agent.cli import hints
from agent.cli.app import (
    EXIT_USAGE,
    JsonOption,
    app,
    cli_state,
    config_path,
    console,
    fail,
    print_json,
    say,
    settings_from,
    warn,
)
from agent.config import Settings
from agent.errors import AgentError, AlreadyRunning, ServiceConflict
from agent.log import configure_logging
from agent.scheduler import CycleFn, InstanceLock, LiveHooks, Runner, Schedule, install_signal_handlers
from agent.service import (
    InstalledService,
    ServicePlan,
    ServiceSpec,
    install_service,
    installed_files,
    plan_for,
    refuse_conflict,
    service_status,
    uninstall_service,
    validate_name,
)

logger = logging.getLogger(__name__)


def sync_cycle(settings: Settings) -> CycleFn:
    """The scheduler's real cycle: one `sync` against the store and the hub, honouring the stop event."""
    warned: list[bool] = []

    def cycle(stop: threading.Event) -> bool:
        from agent.session import AgentSession

        # A new session each cycle: the password is read again (the seller may have changed it), and no
        # browser is left running between cycles. No otp_prompt: in the background a one-time code raises
        # LoginNeedsHuman.
        with AgentSession(settings) as agent:
            if not warned:  # once per run: the seller reads it in the log, not every 15 minutes
                warned.append(True)
                warning = agent.reasons_warning()
                if warning:
                    logger.warning("%s", warning)
            report = agent.sync(stop=stop)
        for problem in report.errors:
            logger.warning("sync: %s", problem)
        for hint in hints.for_problems(report.errors):
            logger.warning("hint: %s", hint)
        return report.outcome in ("ok", "stopped")

    return cycle


LIVE_LOCK_WAIT_SECONDS = 60  # a live step waits this long for a dashboard or CLI action to finish


def live_hooks(settings: Settings) -> LiveHooks | None:
    """Live protection for `run` (agent.sync.live): None without a hub."""
    if not settings.hub.url:
        return None

    def apply(stop: threading.Event) -> bool:
        from agent.session import AgentSession

        with AgentSession(settings) as agent:
            report = agent.apply_live(stop=stop, wait_seconds=LIVE_LOCK_WAIT_SECONDS)
        for problem in report.errors:
            logger.warning("live step: %s", problem)
        return report.outcome in ("ok", "stopped")

    def head_check(stop: threading.Event) -> bool:
        from agent.session import AgentSession

        with AgentSession(settings) as agent:
            agent.head_check(wait_seconds=LIVE_LOCK_WAIT_SECONDS)
        return True

    wait = None
    if settings.schedule.listen:
        from agent.hub_client import HubClient
        from agent.secrets import hub_token
        from agent.sync.live import FeedWaiter

        # A client of its own, without retries: the waiter paces itself (backoff, Retry-After).
        client = HubClient(settings.hub.url, hub_token(settings), max_retries=0)
        waiter = FeedWaiter(
            client, settings.state_db_path, wait_seconds=settings.schedule.listen_wait_seconds
        )
        wait = waiter.wait
    return LiveHooks(
        wait=wait,
        apply=apply,
        head_check=head_check,
        head_check_seconds=settings.schedule.head_check_minutes * 60,
    )


def _record_next_run(settings: Settings) -> Callable[[datetime | None], None]:
    """Where `status` reads when the next cycle runs."""

    def record(when: datetime | None) -> None:
        from agent.state import LocalState

        with LocalState.open(settings.state_db_path) as state:
            state.cycles.next_run_at = when

    return record


@app.command()
def run(
    ctx: typer.Context,
    once: Annotated[
        bool, typer.Option("--once", help="Run one cycle (with the time limit and the lock) and exit.")
    ] = False,
) -> None:
    """The background agent: a sync cycle now, then every schedule.interval_minutes (with jitter).

    Between cycles it listens to the hub (one long-poll wait at a time) and blacklists a newly shared buyer
    within seconds, and looks at the newest entries of the store's blacklist every
    schedule.head_check_minutes to report buyers blacklisted by hand.

    One agent per data dir: a second `run` exits 2. Ctrl+C or SIGTERM finish the current action, save the
    state and exit 0. Logs go to the console and to a rotating file in the agent's log dir. Exit codes of
    `--once`: 0 success, 1 failure or partial success (also when a login needs a human).
    """
    settings = settings_from(ctx)
    # The console shows each cycle (INFO) even without -v: this command is watched, not scripted.
    configure_logging(
        verbosity=max(cli_state(ctx).verbosity, 1),
        log_dir=settings.log_dir,
        file_level=settings.logging.level,
    )
    lock = InstanceLock(settings.data_dir)
    try:
        lock.acquire()
    except AlreadyRunning as exc:
        raise fail(str(exc), code=EXIT_USAGE) from None
    try:
        runner = Runner(
            sync_cycle(settings),
            Schedule.from_settings(settings),
            on_next_run=None if once else _record_next_run(settings),
            session_path=settings.session_path,
            live=None if once else _live_or_none(settings),
        )
        restore = install_signal_handlers(runner)
        try:
            code = runner.run_once() if once else runner.run_forever()
        finally:
            restore()
    finally:
        lock.release()
    raise typer.Exit(code)


def _live_or_none(settings: Settings) -> LiveHooks | None:
    try:
        return live_hooks(settings)
    except AgentError as exc:  # e.g. no hub token yet: the cycles say so and the agent still runs
        logger.warning("live protection is off: %s", exc)
        return None


# -- service ----------------------------------------------------------------------------------------

service_app = typer.Typer(
    help="Start the background agent at login (systemd user unit, launchd agent or Task Scheduler task).",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(service_app, name="service")

NameOption = Annotated[
    str | None,
    typer.Option(
        "--name",
        help="The service's instance name (blacklist-agent-NAME). Default: the one installed for this "
        "config, else none for the default config and the store's login for any other.",
    ),
]
DryRunOption = Annotated[bool, typer.Option("--dry-run", help="Print what would be done; change nothing.")]


def _plan(ctx: typer.Context, name: str | None) -> tuple[ServicePlan, ServiceSpec, list[InstalledService]]:
    """This config's service plan, and every service of this agent installed on the machine."""
    try:
        name = validate_name(name)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--name") from None
    settings = settings_from(ctx)  # the service must start with a config that loads
    return plan_for(settings, config_path(ctx), name=name)


def _print_commands(title: str, commands: list[list[str]]) -> None:
    import shlex

    if commands:
        console.print(title)
        for argv in commands:
            console.print("  " + shlex.join(argv), markup=False, highlight=False)


def _warn_about_secrets(settings: Settings) -> None:
    """The service sees neither this shell's environment nor a terminal to type a keyring password into."""
    from agent.secrets import SecretName, asks_for_a_password, usable_keyring

    commands = {
        SecretName.BACKEND_PASSWORD: "`blacklist-agent login`",
        SecretName.HUB_TOKEN: "`blacklist-agent secrets set hub-token --stdin`",
    }
    for secret in SecretName:
        if os.environ.get(secret.env_var):
            warn(
                f"${secret.env_var} is set in this shell, but the service will not see it: store the "
                f"{secret.label} in the keyring instead ({commands[secret]})"
            )
    try:
        backend = usable_keyring()
    except AgentError:
        return  # the first cycle says what is wrong with the keyring, with its fixes
    if asks_for_a_password(backend):
        warn(
            f"the keyring in use ({type(backend).__name__}) asks for its own password on the terminal, "
            "which the background agent cannot type: every cycle would fail. Give it a Secret Service "
            "(gnome-keyring, KWallet) or, on a server, set the secrets' environment variables in the "
            "service's own environment"
        )


@service_app.command("install")
def service_install(ctx: typer.Context, name: NameOption = None, dry_run: DryRunOption = False) -> None:
    """Install the background agent to start at login, and start it now (one service per store)."""

    plan, spec, _ = _plan(ctx, name)
    if dry_run:
        for path, content in plan.files.items():
            console.print(f"would write {path}:", markup=False, highlight=False)
            console.print(content, markup=False, highlight=False)
        _print_commands("would run:", plan.install_commands)
        if plan.manager_problem:
            warn(f"but it cannot be installed from here: {plan.manager_problem}")
        return
    try:
        # Another store's service of this name comes first: that is fixed here, the manager is not.
        refuse_conflict(plan, spec.config_path)
        _warn_about_secrets(settings_from(ctx))  # also worth knowing before a manager is set up
        if not plan.commands_usable:
            raise fail(f"{plan.service_name} was NOT installed: {plan.manager_problem or 'no manager'}")
        outcome = install_service(plan, config_path=spec.config_path)
    except ServiceConflict as exc:
        raise fail(
            str(exc),
            hint="give this store's agent a service of its own: "
            "`blacklist-agent service install --name NAME` (letters, digits, '-' or '_')",
        ) from None
    for path in outcome.files_written:
        say(f"wrote {path}")
    for argv, code, output in outcome.commands_run:
        status = "ok" if code == 0 else f"failed (exit {code}): {output}"
        say(f"ran {' '.join(argv)}: {status}")
    if not outcome.ok:
        raise fail(f"{plan.service_name} was NOT installed: a service manager command failed (above)")
    say(
        f"{plan.service_name} installed and started for {spec.config_path}; it starts at every login. "
        "`blacklist-agent service status` shows it."
    )


@service_app.command("uninstall")
def service_uninstall(ctx: typer.Context, name: NameOption = None, dry_run: DryRunOption = False) -> None:
    """Stop this store's background agent and remove it from start at login."""

    plan, _, _ = _plan(ctx, name)
    if dry_run:
        _print_commands("would run:", plan.uninstall_commands if plan.commands_usable else [])
        for path in installed_files(plan):
            say(f"would remove {path}")
        return
    outcome = uninstall_service(plan)
    for argv, code, _ in outcome.commands_run:
        say(f"ran {' '.join(argv)} (exit {code})")
    for path in outcome.files_removed:
        say(f"removed {path}")
    if not outcome.files_removed:
        say(f"{plan.service_name} was not installed.")
    elif outcome.commands_to_run and plan.manager_problem:
        warn(f"the service manager could not be asked to stop it: {plan.manager_problem}")


@service_app.command("status")
def service_status_cmd(ctx: typer.Context, name: NameOption = None, json_output: JsonOption = False) -> None:
    """Say whether this store's background agent is installed, and what the service manager says."""

    plan, spec, installed = _plan(ctx, name)
    is_installed, manager = service_status(plan)
    others = [s for s in installed if s.config_path != spec.config_path]
    if json_output:
        print_json(
            {
                "service": plan.service_name,
                "platform": plan.platform,
                "config": spec.config_path,
                "installed": is_installed,
                "files": [str(p) for p in installed_files(plan)],
                "manager": manager,
                "manager_problem": plan.manager_problem,
                "other_services": [{"path": s.path, "config": s.config_path} for s in others],
            }
        )
        return
    where = ", ".join(str(p) for p in installed_files(plan))
    say(f"{plan.service_name}: {'installed (' + where + ')' if is_installed else 'not installed'}")
    if manager:
        say(manager)
    elif plan.manager_problem:
        say(f"The service manager cannot be asked from here: {plan.manager_problem}.")
    for other in others:
        say(f"Another store's service: {other.path} (config {other.config_path or 'unreadable'})")


# -- demo -------------------------------------------------------------------------------------------


@app.command()
def demo() -> None:
    """Tell the sharing story on this machine: a mock backend with three stores, a hub, three agents.

    Uses temporary folders and an in-memory keyring (never your config or keyring); takes under a minute;
    exits 1 if the story does not come out as told.
    """
    from agent.demo import run_demo

    try:
        code = run_demo(console)
    except AgentError as exc:
        raise fail(f"the demo failed: {exc}") from None
    raise typer.Exit(code)
