"""The `blacklist-agent` command line. Each module below registers its commands on `app` when imported."""

from __future__ import annotations

from agent.cli import (  # noqa: F401  (they register commands)
    agent_cmds,
    blacklist_cmds,
    doctor_cmd,
    setup_cmds,
    sync_cmds,
    ui_cmd,
)
from agent.cli.app import app


def main() -> None:
    """Entry point of `blacklist-agent` and `python -m agent`."""
    app(prog_name="blacklist-agent")


__all__ = ["app", "main"]
