"""Setting an agent up: `init` (the config file), `login` (the backend password), `secrets`."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from agent.cli.app import (
    EXIT_USAGE,
    app,
    config_path,
    console,
    err_console,
    fail,
    read_secret_input,
    say,
    settings_from,
    warn,
)
from agent.onboarding import SetupValues, human_login, password_keyring_problem, write_config
from agent.paths import default_config_path
from agent.secrets import SecretName, delete_secret, store_secret

logger = logging.getLogger(__name__)


@app.command()
def init(
    ctx: typer.Context,
    base_url: Annotated[
        str, typer.Option("--base-url", prompt="Seller backend URL", help="The seller backend's address.")
    ],
    username: Annotated[
        str, typer.Option("--username", prompt="Seller login", help="Your seller login on that backend.")
    ],
    selectors: Annotated[
        str | None,
        typer.Option("--selectors", help="Selectors file: a shipped stem (mock-v1, mock-v2) or a path."),
    ] = None,
    hub_url: Annotated[str | None, typer.Option("--hub-url", help="The sharing hub's address.")] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", help="Where this agent keeps its state (one per agent on a machine)."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing config file.")] = False,
) -> None:
    """Write a commented config file (every key explained, your values filled in)."""
    path = config_path(ctx)
    if path.exists() and not force:
        raise fail(f"{path} already exists; use --force to overwrite it")
    settings = write_config(
        path,
        SetupValues(base_url, username, selectors=selectors, hub_url=hub_url, data_dir=data_dir),
        force=force,
    )
    console.print(f"Wrote {path}")
    console.print(f"  backend {settings.backend.base_url} as {settings.backend.username}")
    console.print(f"  data dir {settings.data_dir}")
    if data_dir is None and path != default_config_path():
        warn(
            "this config uses the default data dir; if another agent runs on this machine, give each its own "
            "with --data-dir (or data_dir in the file) so their state and sessions never mix"
        )
    say("Next: `blacklist-agent login` to store the password, then `blacklist-agent doctor`.")


@app.command()
def login(
    ctx: typer.Context,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from the first line of stdin.")
    ] = False,
    interactive: Annotated[
        bool,
        typer.Option(
            "--interactive",
            help="For a one-time code: open a visible browser (or, with no display, ask for the code here).",
        ),
    ] = False,
) -> None:
    """Store the backend password in the keyring after checking it by logging in."""
    from agent.backend.browser import display_available

    settings = settings_from(ctx)
    backend = settings.backend
    # Find out before the prompt and the (slow) login whether the password can be kept at all.
    password_keyring_problem()

    password = read_secret_input(
        from_stdin=password_stdin, prompt=f"Password for {backend.username} at {backend.base_url}"
    )
    headless: bool | None = None
    otp_prompt: Callable[[], str] | None = None
    if interactive:
        # The browser is shown where a display exists, so the seller sees what happens; the code itself is
        # typed here, since the driver fills the backend's code form.
        headless = False if display_available() else None

        def otp_prompt() -> str:
            return str(typer.prompt("One-time code sent by the backend (e.g. by SMS)")).strip()

    from agent.backend.login_guard import LoginGuard

    on_hold = LoginGuard(settings.session_path).refusal()
    spinner = err_console.status(f"Logging in to {backend.base_url} as {backend.username}")
    with contextlib.nullcontext() if interactive else spinner:  # a spinner would garble the code prompt
        outcome = human_login(settings, password, otp_prompt=otp_prompt, headless=headless)
    console.print(f"Logged in to {backend.base_url} as {backend.username}; session saved.")
    if on_hold is not None:
        console.print("The earlier refused login is cleared: the agent logs in on its own again when needed.")
    if not outcome.stored:
        warn(
            "the password was NOT stored (no usable keyring); the agent keeps using "
            f"${SecretName.BACKEND_PASSWORD.env_var}"
        )
        return
    console.print(f"Password stored in the keyring ({outcome.keyring}).")
    if outcome.env_wins:
        warn(f"${SecretName.BACKEND_PASSWORD.env_var} is set and takes precedence over the keyring")


secrets_app = typer.Typer(
    help="Store or delete the agent's secrets (backend password, hub token) in the OS keyring.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(secrets_app, name="secrets")


@secrets_app.command("set")
def secrets_set(
    ctx: typer.Context,
    name: Annotated[SecretName, typer.Argument(help="hub-token or backend-password.")],
    stdin: Annotated[
        bool, typer.Option("--stdin", help="Read the value from the first line of stdin.")
    ] = False,
) -> None:
    """Store a secret in the keyring (prompted without echo, or read from stdin)."""
    settings = settings_from(ctx)
    if name is SecretName.HUB_TOKEN and settings.hub.url is None:
        raise fail(
            "hub.url is not set in the config; set it first (the token is kept per hub)", code=EXIT_USAGE
        )
    value = read_secret_input(from_stdin=stdin, prompt=f"Value of {name.value}")
    store_secret(settings, name, value)
    console.print(f"Stored the {name.label} in the keyring.")
    if name is SecretName.BACKEND_PASSWORD:
        say("Check it with `blacklist-agent doctor` (or store it with `blacklist-agent login`: it checks).")
    if os.environ.get(name.env_var):
        warn(f"${name.env_var} is set and takes precedence over the keyring")


@secrets_app.command("delete")
def secrets_delete(
    ctx: typer.Context,
    name: Annotated[SecretName, typer.Argument(help="hub-token or backend-password.")],
) -> None:
    """Delete a secret from the keyring."""
    settings = settings_from(ctx)
    if delete_secret(settings, name):
        console.print(f"Deleted the {name.label} from the keyring.")
    else:
        console.print(f"No {name.label} was stored; nothing to delete.")
