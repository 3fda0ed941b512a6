"""The `blacklist-agent` Typer app and the helpers every command module shares.

Command modules (`setup_cmds`, `sync_cmds`, `agent_cmds`) import `app` and the helpers below and register
their commands on it; `agent.cli.__init__` imports them all. Errors are mapped to exit codes in one place
(`AgentGroup.invoke`): 0 success, 1 failure (any AgentError), 2 usage or config error (ConfigError and
click's own usage errors). An error is printed once, with a hint when one is known (`agent.cli.hints`); its
traceback is shown only with -v and always goes to the log file. Every command a message suggests names the
`--config` the user passed (`agent.log.with_config`).
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from typer.core import TyperGroup

from agent import __version__
from agent.config import Settings, load_settings
from agent.errors import AgentError, ConfigError
from agent.log import (
    CLI_LOG_FILE_NAME,
    FILE_ONLY,
    configure_logging,
    redact,
    set_command_config,
    with_config,
)
from agent.paths import resolve_config_path

if TYPE_CHECKING:
    from agent.backend.api import Backend

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2

console = Console(soft_wrap=True)
"""Normal output (stdout): tables, results."""
err_console = Console(stderr=True)
"""Errors, warnings and progress (stderr), so stdout stays clean for --json."""

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


@dataclass
class CliState:
    """What the global options decided, kept on the Typer context (`ctx.obj`)."""

    config: Path | None = None
    verbosity: int = 0
    _settings: Settings | None = field(default=None, repr=False)


def exit_code_for(exc: BaseException) -> int:
    """2 for configuration problems, 1 for every other failure."""
    return EXIT_USAGE if isinstance(exc, ConfigError) else EXIT_FAILURE


def report_error(exc: BaseException, *, verbosity: int = 0) -> int:
    """Print a one-line error (redacted) and its hint to stderr, log the traceback, return the exit code."""
    from agent.cli import hints

    code = exit_code_for(exc)
    message = str(exc) if isinstance(exc, AgentError) else f"unexpected {type(exc).__name__}: {exc}"
    # The log file gets the traceback; the console gets it only with -v, and the message once (below).
    logger.info("command failed: %s", message, exc_info=exc, extra=FILE_ONLY)
    if verbosity >= 1:
        trace = "".join(traceback.format_exception(exc))
        err_console.print(redact(trace), markup=False, highlight=False, soft_wrap=True, end="")
    _print_error(message)
    hint = hints.for_error(exc)
    if hint:
        print_hint(hint)
    if verbosity == 0 and not isinstance(exc, AgentError):
        err_console.print("(run again with -v to see the traceback)", style="dim")
    return code


def _print_error(message: str) -> None:
    err_console.print(f"[bold red]error:[/] {escape(with_config(redact(message)))}", soft_wrap=True)


def print_hint(message: str) -> None:
    """A line under an error saying what fixes it."""
    err_console.print(f"[yellow]hint:[/] {escape(with_config(message))}", soft_wrap=True)


class AgentGroup(TyperGroup):
    """The top-level command group: maps every error escaping a command to its exit code."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):  # usage errors, --help, Ctrl+C
            raise
        except Exception as exc:
            state = ctx.obj if isinstance(ctx.obj, CliState) else CliState()
            raise typer.Exit(report_error(exc, verbosity=state.verbosity)) from None


app = typer.Typer(
    name="blacklist-agent",
    cls=AgentGroup,
    help="Share your store's buyer blacklist through a hub, and apply the pooled blacklist to your store.",
    no_args_is_help=True,
    add_completion=False,
    # Typer's pretty tracebacks show local variables, which may hold a password.
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"blacklist-agent {__version__}")
        raise typer.Exit()


@app.callback()
def _global_options(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="Config file (default: $BLACKLIST_AGENT_CONFIG, else config.toml in the user config dir).",
            dir_okay=False,
        ),
    ] = None,
    verbose: Annotated[
        int,
        typer.Option(
            "-v", "--verbose", count=True, show_default=False, help="More output: -v progress, -vv debug."
        ),
    ] = 0,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Share your store's buyer blacklist through a hub, and apply the pooled blacklist to your store."""
    ctx.obj = CliState(config=config, verbosity=verbose)
    set_command_config(config.expanduser().absolute() if config is not None else None)
    configure_logging(verbosity=verbose)


def cli_state(ctx: typer.Context) -> CliState:
    """The global options, from any (sub)command's context."""
    root = ctx.find_root()
    if not isinstance(root.obj, CliState):
        root.obj = CliState()
    return root.obj


def config_path(ctx: typer.Context) -> Path:
    """The config file this invocation reads or writes (`--config`, env, or the default)."""
    return resolve_config_path(cli_state(ctx).config)


def settings_from(ctx: typer.Context) -> Settings:
    """Load the settings once per invocation, and start the log file in the agent's log dir."""
    state = cli_state(ctx)
    if state._settings is None:
        settings = load_settings(state.config)
        configure_logging(
            verbosity=state.verbosity,
            log_dir=settings.log_dir,
            file_level=settings.logging.level,
            file_name=CLI_LOG_FILE_NAME,
        )
        logger.debug("settings loaded from %s", config_path(ctx))
        state._settings = settings
    return state._settings


def open_store(
    settings: Settings,
    *,
    password: str | None = None,
    otp_prompt: Callable[[], str] | None = None,
    headless: bool | None = None,
) -> Backend:
    """Open the store's backend through the driver (a context manager), with the stored password."""
    from agent.backend.driver import open_backend  # Playwright is imported only by commands that need it
    from agent.secrets import backend_password

    if password is None:
        password = backend_password(settings)
    backend: Backend = open_backend(settings, password=password, otp_prompt=otp_prompt, headless=headless)
    return backend


def read_secret_input(*, from_stdin: bool, prompt: str) -> str:
    """One secret line from stdin (for scripts) or a hidden prompt; never echoed, never empty."""
    if from_stdin:
        value = sys.stdin.readline().rstrip("\r\n")
        if not value:
            raise typer.BadParameter("nothing was read from stdin")
        return value
    value = typer.prompt(prompt, hide_input=True)
    if not value:
        raise typer.BadParameter("an empty value cannot be stored")
    return str(value)


def _json_default(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def print_json(data: object) -> None:
    """Plain JSON on stdout (no colours, no wrapping), for scripts."""
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False, default=_json_default))


def print_rows(
    rows: Sequence[Mapping[str, object]],
    columns: Sequence[tuple[str, str]],
    *,
    json_output: bool,
    title: str | None = None,
    empty: str = "(none)",
) -> None:
    """Rows as a rich table, or (with --json) as a JSON list; `columns` are (key, heading) pairs."""
    if json_output:
        print_json([dict(row) for row in rows])
        return
    if not rows:
        console.print(empty)
        return
    table = Table(title=title, title_justify="left")
    for _, heading in columns:
        table.add_column(heading, overflow="fold")
    for row in rows:
        table.add_row(*(_cell(row.get(key)) for key, _ in columns))
    console.print(table)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, Enum):
        return str(value.value)
    return escape(str(value))


def fail(message: str, *, code: int = EXIT_FAILURE, hint: str | None = None) -> typer.Exit:
    """Print an error (and its hint) and return the Exit to raise: `raise fail("...")`."""
    logger.info("command failed: %s", message, extra=FILE_ONLY)
    _print_error(message)
    if hint:
        print_hint(hint)
    return typer.Exit(code)


def warn(message: str) -> None:
    err_console.print(f"[yellow]warning:[/] {escape(with_config(message))}", soft_wrap=True)


def say(message: str) -> None:
    """A line of normal output (never markup), with `--config` named in the commands it suggests."""
    console.print(with_config(message), markup=False, highlight=False)
