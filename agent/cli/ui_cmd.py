"""`ui`: the seller's dashboard in the browser (agent/ui), served on this computer only."""

from __future__ import annotations

import contextlib
import logging
import sys
import webbrowser
from typing import TYPE_CHECKING, Annotated

import typer

from agent.cli.app import EXIT_USAGE, app, config_path, console, fail, settings_from, warn
from agent.errors import ConfigError

if TYPE_CHECKING:
    from agent.ui.server import DashboardServer
    from agent.ui.tray import Tray

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
    tray: Annotated[
        bool | None,
        typer.Option(
            "--tray/--no-tray",
            help="Show a tray icon (Open dashboard, Sync now, Quit). Default: where the desktop has a tray.",
        ),
    ] = None,
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
    icon = _tray_for(server, wanted=tray)
    if icon is not None and sys.platform == "darwin":  # macOS draws the menu bar from the main thread only
        server.start()
        try:
            icon.run()
        finally:
            server.stop()
        return
    if icon is not None:
        icon.start()
    server.serve_forever()


def _tray_for(server: DashboardServer, *, wanted: bool | None) -> Tray | None:
    """The tray icon when asked for (or, by default, when this desktop has a tray); None otherwise."""
    from agent.ui.tray import Tray, TrayActions, tray_problem

    if wanted is False:
        return None
    problem = tray_problem()
    if problem is not None:
        if wanted:
            warn(f"no tray icon: {problem}; the dashboard works without it")
        else:
            logger.info("no tray icon: %s", problem)
        return None
    return Tray(TrayActions(server))
