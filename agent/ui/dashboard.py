"""`Dashboard`: what every page of the dashboard works with, for one agent (one config file).

The settings are read from the config file again whenever it changes (the setup and settings pages write
it, so can the seller's editor), every read or change of the agent goes through a short-lived
`AgentSession` (the same object the CLI and the background agent use, so the dashboard and a running
`blacklist-agent run` share the cycle lock and the state safely), and long actions run as `Jobs`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent.config import Settings, load_settings
from agent.errors import ConfigError
from agent.session import AgentSession
from agent.ui.background import BackgroundAgent
from agent.ui.jobs import Job, Jobs
from agent.ui.security import Guard

logger = logging.getLogger(__name__)

SessionFactory = Callable[[Settings], AgentSession]


class Dashboard:
    def __init__(
        self,
        config_path: Path,
        *,
        guard: Guard | None = None,
        session_factory: SessionFactory | None = None,
    ) -> None:
        self.config_path = config_path
        self.guard = guard or Guard()
        self.jobs = Jobs()
        self.background = BackgroundAgent()
        self._session_factory = session_factory or (lambda settings: AgentSession(settings))
        self._lock = threading.Lock()
        self._settings: Settings | None = None
        self._stamp: tuple[float, int] | None = None
        self.base_url = ""  # http://127.0.0.1:PORT once serving

    def _file_stamp(self) -> tuple[float, int] | None:
        try:
            info = self.config_path.stat()
        except OSError:
            return None
        return info.st_mtime, info.st_size

    def settings(self) -> Settings:
        """The agent's settings as the file says now; ConfigError when there is no usable config yet."""
        stamp = self._file_stamp()
        with self._lock:
            if self._settings is None or stamp != self._stamp:
                self._settings = None
                self._settings = load_settings(self.config_path)
                self._stamp = stamp
            return self._settings

    def configured(self) -> bool:
        try:
            self.settings()
        except ConfigError:
            return False
        return True

    def forget_settings(self) -> None:
        """Read the file again at the next request (after a write within the same second and size)."""
        with self._lock:
            self._settings = None
            self._stamp = None

    def session(self) -> AgentSession:
        """A new session over the current settings, to use in a `with` block."""
        return self._session_factory(self.settings())

    def start_sync(self, *, dry_run: bool) -> tuple[Job, bool]:
        """Sync now (or its preview) as a job; (the running job, False) when another job runs."""

        def work(job: Job) -> Any:
            with self.session() as agent:
                return agent.sync(dry_run=dry_run, stop=job.stop, progress=job.progress)

        title = "Preview of a sync (nothing is changed)" if dry_run else "Sync"
        return self.jobs.start("sync", title, work, back="/sync")

    def start_share(self, *, dry_run: bool) -> tuple[Job, bool]:
        """Share all (or its preview) as a job; (the running job, False) when another job runs."""

        def work(job: Job) -> Any:
            with self.session() as agent:
                return agent.share_all(dry_run=dry_run, stop=job.stop, progress=job.progress)

        title = "Preview of share all (nothing is sent)" if dry_run else "Share all"
        return self.jobs.start("share", title, work, back="/share")

    def close(self) -> None:
        self.jobs.stop_all()
        self.background.close()
