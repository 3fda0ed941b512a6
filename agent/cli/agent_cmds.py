"""The agent as a background process: `run`, `service install | uninstall | status`, and `demo`."""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from agent.cli.app import (
    EXIT_FAILURE,
    EXIT_USAGE,
    JsonOption,
    app,
    cli_state,
    config_path,
    console,
    fail,
    print_json,
    settings_from,
    warn,
)
from agent.config import Settings
from agent.errors import AgentError, AlreadyRunning
from agent.log import configure_logging
from agent.scheduler import CycleFn, InstanceLock, Runner, Schedule, install_signal_handlers
from agent.service import (
    ServicePlan,
    ServiceSpec,
    install_service,
    installed_files,
    plan_service,
    service_status,
    uninstall_service,
    validate_name,
)

logger = logging.getLogger(__name__)


def sync_cycle(settings: Settings) -> CycleFn:
    """The scheduler's real cycle: one `sync` against the store and the hub, honouring the stop event."""

    def cycle(stop: threading.Event) -> bool:
        from agent.session import AgentSession

        # A new session each cycle: the password is read again (the seller may have changed it), and no
        # browser is left running between cycles. No otp_prompt: in the background a one-time code raises
        # LoginNeedsHuman.
        with AgentSession(settings) as agent:
            report = agent.sync(stop=stop)
        for problem in report.errors:
            logger.warning("sync: %s", problem)
        return report.outcome in ("ok", "stopped")

    return cycle


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
        )
        restore = install_signal_handlers(runner)
        try:
            code = runner.run_once() if once else runner.run_forever()
        finally:
            restore()
    finally:
        lock.release()
    raise typer.Exit(code)


# -- service ----------------------------------------------------------------------------------------

service_app = typer.Typer(
    help="Start the background agent at login (systemd user unit, launchd agent or Task Scheduler task).",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(service_app, name="service")

NameOption = Annotated[
    str | None,
    typer.Option("--name", help="Instance name, for several agents on one machine (blacklist-agent-NAME)."),
]
DryRunOption = Annotated[bool, typer.Option("--dry-run", help="Print what would be done; change nothing.")]


def _plan(ctx: typer.Context, name: str | None) -> ServicePlan:

    try:
        name = validate_name(name)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--name") from None
    settings = settings_from(ctx)  # the service must start with a config that loads
    spec = ServiceSpec(
        python=Path(sys.executable),
        config_path=config_path(ctx).expanduser().absolute(),
        working_dir=settings.data_dir.absolute(),
        log_dir=settings.log_dir.absolute(),
        name=name,
    )
    return plan_service(spec)


def _print_commands(title: str, commands: list[list[str]]) -> None:
    import shlex

    if commands:
        console.print(title)
        for argv in commands:
            console.print("  " + shlex.join(argv), markup=False, highlight=False)


def _warn_env_secrets(settings: Settings) -> None:
    from agent.secrets import SecretName

    for name in SecretName:
        if os.environ.get(name.env_var):
            warn(
                f"${name.env_var} is set in this shell, but the service will not see it: store the "
                f"{name.label} in the keyring instead (`blacklist-agent login` / `secrets set hub-token`)"
            )


@service_app.command("install")
def service_install(ctx: typer.Context, name: NameOption = None, dry_run: DryRunOption = False) -> None:
    """Install the background agent to start at login, and start it now."""

    plan = _plan(ctx, name)
    if dry_run:
        for path, content in plan.files.items():
            console.print(f"would write {path}:", markup=False, highlight=False)
            console.print(content, markup=False, highlight=False)
        _print_commands("would run:", plan.install_commands)
        return
    _warn_env_secrets(settings_from(ctx))
    outcome = install_service(plan)
    for path in outcome.files_written:
        console.print(f"wrote {path}", markup=False, highlight=False)
    for argv, code, output in outcome.commands_run:
        status = "ok" if code == 0 else f"failed (exit {code}): {output}"
        console.print(f"ran {' '.join(argv)}: {status}", markup=False, highlight=False)
    _print_commands("Run these to start it (they cannot run from here):", outcome.commands_to_run)
    for note in plan.notes:
        console.print(note, markup=False, highlight=False)
    if not outcome.ok:
        raise typer.Exit(EXIT_FAILURE)
    if outcome.commands_run:
        console.print(f"{plan.service_name} installed and started; it will start at every login.")


@service_app.command("uninstall")
def service_uninstall(ctx: typer.Context, name: NameOption = None, dry_run: DryRunOption = False) -> None:
    """Stop the background agent and remove it from start at login."""

    plan = _plan(ctx, name)
    if dry_run:
        _print_commands("would run:", plan.uninstall_commands)
        for path in installed_files(plan):
            console.print(f"would remove {path}", markup=False, highlight=False)
        return
    outcome = uninstall_service(plan)
    for argv, code, _ in outcome.commands_run:
        console.print(f"ran {' '.join(argv)} (exit {code})", markup=False, highlight=False)
    for path in outcome.files_removed:
        console.print(f"removed {path}", markup=False, highlight=False)
    _print_commands("Also run these (they cannot run from here):", outcome.commands_to_run)
    if not outcome.files_removed:
        console.print(f"{plan.service_name} was not installed.")


@service_app.command("status")
def service_status_cmd(ctx: typer.Context, name: NameOption = None, json_output: JsonOption = False) -> None:
    """Say whether the background agent is installed, and what the service manager says about it."""

    plan = _plan(ctx, name)
    installed, manager = service_status(plan)
    if json_output:
        print_json(
            {
                "service": plan.service_name,
                "platform": plan.platform,
                "installed": installed,
                "files": [str(p) for p in installed_files(plan)],
                "manager": manager,
            }
        )
        return
    where = ", ".join(str(p) for p in installed_files(plan))
    console.print(
        f"{plan.service_name}: {'installed (' + where + ')' if installed else 'not installed'}",
        markup=False,
        highlight=False,
    )
    if manager:
        console.print(manager, markup=False, highlight=False)
    elif installed:
        _print_commands("Ask the service manager with:", plan.status_commands)


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
