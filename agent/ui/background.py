"""The background agent as the dashboard's Home shows and steers it: running or not, installed or not.

"Running" is the pid the background agent (`blacklist-agent run`) writes next to its instance lock, alive.
The lock itself is never taken here, not even for a test: a `run` starting at that instant would exit as
"already running", and a service manager does not restart that. Start spawns the same `run` command a
service would, detached; Stop sends it SIGTERM, which finishes the current action and exits cleanly (so a
service manager does not restart it). Install and uninstall are `agent.service`'s, as for the CLI.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from agent.config import Settings
from agent.scheduler import InstanceLock
from agent.service import (
    ServiceOutcome,
    ServicePlan,
    install_service,
    installed_files,
    plan_for,
    uninstall_service,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AgentProcess:
    """What Home says about the background agent."""

    running: bool
    pid: int | None
    installed: bool
    service_name: str
    service_files: list[Path]
    can_install_here: bool  # the service manager can be driven from here (else commands are shown)


def service_plan(settings: Settings, config_path: Path) -> ServicePlan:
    """This store's service, named as the CLI names it (`blacklist-agent service install`)."""
    return plan_for(settings, config_path)[0]


def _alive(pid: int) -> bool:
    if sys.platform.startswith("win"):
        return True  # the pid file is removed on a clean exit; there is no cheap signal-0 probe
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, owned by someone else
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.exists():  # a pid reused by another program after a crash is not our agent
        try:
            return b"agent" in cmdline.read_bytes()
        except OSError:
            return True
    return True


class BackgroundAgent:
    """Status, start and stop of one agent's `run` process, and its service at login."""

    def __init__(self) -> None:
        self._children: list[subprocess.Popen[bytes]] = []

    def status(self, settings: Settings, config_path: Path) -> AgentProcess:
        self._reap()
        pid = InstanceLock(settings.data_dir).holder_pid()
        running = pid is not None and _alive(pid)
        plan = service_plan(settings, config_path)
        files = installed_files(plan)
        return AgentProcess(
            running=running,
            pid=pid if running else None,
            installed=bool(files),
            service_name=plan.service_name,
            service_files=files,
            can_install_here=plan.commands_usable,
        )

    def start(self, config_path: Path, settings: Settings) -> subprocess.Popen[bytes]:
        """Start `blacklist-agent run` for this config, detached from the dashboard."""
        argv = [sys.executable, "-m", "agent", "--config", str(config_path.expanduser().absolute()), "run"]
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        if sys.platform.startswith("win"):
            group, detached = "CREATE_NEW_PROCESS_GROUP", "DETACHED_PROCESS"  # Windows-only constants
            flags = getattr(subprocess, group, 0) | getattr(subprocess, detached, 0)
            new_session = False
        else:
            flags, new_session = 0, True  # closing the dashboard's terminal must not stop it
        child = subprocess.Popen(
            argv,
            cwd=settings.data_dir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,  # it logs to <data_dir>/logs/agent.log
            stderr=subprocess.DEVNULL,
            start_new_session=new_session,
            creationflags=flags,
        )
        self._children.append(child)
        logger.info("started the background agent (pid %d)", child.pid)
        return child

    def settle(self, child: subprocess.Popen[bytes], settings: Settings, *, seconds: float = 5) -> int | None:
        """Wait until a just-started agent holds its lock (None) or has exited (its exit code)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            code = child.poll()
            if code is not None:
                return code
            if InstanceLock(settings.data_dir).holder_pid() == child.pid:
                return None
            time.sleep(0.1)
        return child.poll()

    def stop(self, settings: Settings) -> int | None:
        """Ask the running background agent to finish its current action and exit; its pid, or None."""
        pid = InstanceLock(settings.data_dir).holder_pid()
        if pid is None or not _alive(pid):
            return None
        os.kill(pid, signal.SIGTERM)
        logger.info("asked the background agent (pid %d) to stop", pid)
        return pid

    def install(self, settings: Settings, config_path: Path) -> tuple[ServicePlan, ServiceOutcome | None]:
        """Install this store's service; no outcome (nothing written) when no service manager can run it
        here (`plan.manager_problem` says why and how to get one). Raises ServiceConflict rather than take
        over another store's service."""
        plan = service_plan(settings, config_path)
        if not plan.commands_usable:
            return plan, None
        return plan, install_service(plan, config_path=config_path.expanduser().absolute())

    def uninstall(self, settings: Settings, config_path: Path) -> tuple[ServicePlan, ServiceOutcome]:
        plan = service_plan(settings, config_path)
        return plan, uninstall_service(plan)

    def _reap(self) -> None:
        # Collect children that exited, so they do not linger as zombies while the dashboard runs.
        self._children = [c for c in self._children if c.poll() is None]

    def close(self) -> None:
        self._reap()
