"""`ui`: the seller's dashboard in the browser (agent/ui), served on this computer only."""

from __future__ import annotations

import contextlib
import logging
import webbrowser
from typing import Annotated

import typer

from agent.cli.app import EXIT_USAGE, app, config_path, console, fail, settings_from, warn
from agent.errors import ConfigError

logger = logging.getLogger(__name__)


@app.command("ui")
def ui_command(
    ctx: typer.Context,
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="Port on 127.0.0.1 (default: a free one).")
    ] = 0,
    no_open: Annotated[
        bool, typer.Option("--no-open", help="Do not open the browser; just print the link.")
    ] = False,
) -> None:
    """Open the dashboard in your browser: set up, share, sync, review and undo without the terminal.

    It listens on 127.0.0.1 only. The printed link works once: it gives this browser a session. Works
    alongside a running background agent. Ctrl+C stops it.
    """
    from agent.ui.dashboard import Dashboard
    from agent.ui.server import DashboardServer

    # The log file goes to the agent's log dir when the config loads; on a first run there is none yet (the
    # setup page writes it).
    with contextlib.suppress(ConfigError):
        settings_from(ctx)
    server = DashboardServer(Dashboard(config_path(ctx)))
    try:
        server.bind(port)
    except OSError as exc:
        raise fail(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}", code=EXIT_USAGE) from None
    link = server.open_link()
    console.print(f"Dashboard: {link}", markup=False, highlight=False, soft_wrap=True)
    console.print("The link works once. Ctrl+C stops the dashboard.", style="dim")
    if not no_open and not webbrowser.open(link):
        warn("could not open a browser here; open the link above in yours")
    server.serve_forever()
