"""`AgentSession`: one store's agent as one typed object, behind every front.

The CLI, the background agent, the dashboard, the demo, the tests and the benchmarks all act through it:

    with AgentSession(settings) as agent:
        report = agent.sync(dry_run=True)

It opens what an action needs when it first needs it (the local state, the hub client, the seller backend),
holds the data dir's cycle lock while an action changes the store or the hub (so `sync`, `share-all`,
`undo` and the dashboard never interleave, across processes), and closes everything together. Reading
`status` or `audit` needs neither the keyring nor a browser.

The backend: by default each action opens the store's backend (`agent.backend.driver.open_backend`) with the
password from the keyring, read once per session, and closes it when the action ends. `keep_backend=True`
keeps one backend open across actions (a long-running front, or a test that runs many cycles); a
`backend_factory` replaces the driver entirely (tests of the engine against another implementation).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import filelock

from agent.backend.api import Backend
from agent.config import Settings
from agent.errors import ConfigError, CycleBusy
from agent.hub_client import HubClient
from agent.models import BlacklistEntry, BlacklistResult, RemovalOutcome
from agent.state import LocalState
from agent.sync import levers, live
from agent.sync.cycle_result import BuyerAction, CycleReport, ShareReport
from agent.sync.engine import BackendFactory, run_apply, run_cycle, run_head_check
from agent.sync.policy import Policy
from agent.sync.progress import ProgressSink
from agent.sync.reasons import check_reason, reasons_warning
from agent.sync.share import share_all

logger = logging.getLogger(__name__)


class _KeptOpen(AbstractContextManager[Backend]):
    """A backend whose `with` block leaves it open (the session closes it)."""

    def __init__(self, backend: Backend) -> None:
        self._backend = backend

    def __enter__(self) -> Backend:
        new_cycle = getattr(self._backend, "new_cycle", None)
        if callable(new_cycle):
            new_cycle()  # each action on a kept backend gets the budget of a cycle
        return self._backend

    def __exit__(self, *exc_info: object) -> None:
        return None


class AgentSession:
    def __init__(
        self,
        settings: Settings,
        *,
        password: str | None = None,
        otp_prompt: Callable[[], str] | None = None,
        headless: bool | None = None,
        hub: HubClient | None = None,
        backend_factory: BackendFactory | None = None,
        keep_backend: bool = False,
    ) -> None:
        self.settings = settings
        self._password = password
        self._otp_prompt = otp_prompt
        self._headless = headless
        self._hub = hub
        self._own_hub = hub is None
        self._factory = backend_factory
        self._keep = keep_backend
        self._kept: Backend | None = None
        self._state: LocalState | None = None
        self._guard = threading.Lock()

    # -- what the actions use ----------------------------------------------------------------------

    @property
    def state(self) -> LocalState:
        """The local state, opened (and migrated) on first use."""
        with self._guard:
            if self._state is None:
                self._state = LocalState.open(self.settings.state_db_path)
            return self._state

    @property
    def hub(self) -> HubClient | None:
        """The hub client, or None when no hub is configured (`hub.url`): the agent then works alone."""
        with self._guard:
            if self._hub is None and self.settings.hub.url:
                self._hub = HubClient.from_settings(self.settings)
            return self._hub

    def require_hub(self) -> HubClient:
        hub = self.hub
        if hub is None:
            raise ConfigError("no hub is configured: set hub.url in the config", key="hub.url")
        return hub

    @property
    def policy(self) -> Policy:
        return Policy.from_settings(self.settings.policy)

    def backend(self) -> AbstractContextManager[Backend]:
        """The store's backend for one action, as a context manager (a kept one is not closed by it)."""
        if self._factory is not None:
            return self._factory()
        if self._keep:
            if self._kept is None:
                self._kept = self._open_backend()
            return _KeptOpen(self._kept)
        return self._open_backend()

    def _open_backend(self) -> Backend:
        from agent.backend.driver import open_backend  # Playwright is imported only when a store is used

        return open_backend(
            self.settings,
            password=self._backend_password(),
            otp_prompt=self._otp_prompt,
            headless=self._headless,
        )

    def _backend_password(self) -> str:
        if self._password is None:
            from agent.secrets import backend_password

            self._password = backend_password(self.settings)
        return self._password

    @contextmanager
    def exclusive(self, *, wait_seconds: float = 0) -> Iterator[None]:
        """The data dir's cycle lock: one change to this store at a time, across processes.

        Raises CycleBusy when another sync, share-all or undo holds it for longer than `wait_seconds`.
        """
        data_dir = self.settings.data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        lock = filelock.FileLock(data_dir / "cycle.lock", timeout=wait_seconds, thread_local=False)
        try:
            lock.acquire()
        except filelock.Timeout:
            raise CycleBusy(f"another sync is running for {data_dir}; try again when it ends") from None
        try:
            yield
        finally:
            lock.release()

    # -- actions -----------------------------------------------------------------------------------

    def sync(
        self,
        *,
        dry_run: bool = False,
        stop: threading.Event | None = None,
        progress: ProgressSink | None = None,
        wait_seconds: float = 0,
    ) -> CycleReport:
        """One cycle (see agent.sync.engine); raises the backend's error when the store could not be used."""
        policy = self.policy  # a bad policy is a ConfigError before anything starts
        state, hub = self.state, self.hub
        with self.exclusive(wait_seconds=wait_seconds):
            return run_cycle(
                policy=policy,
                backend_factory=self.backend,
                hub=hub,
                state=state,
                dry_run=dry_run,
                stop=stop,
                progress=progress,
                default_reason=self.settings.sharing.default_reason,
            )

    def apply_live(self, *, stop: threading.Event | None = None, wait_seconds: float = 0) -> CycleReport:
        """Live protection's apply-only step: push, pull, decide, retract and add (agent.sync.engine)."""
        policy, hub, state = self.policy, self.require_hub(), self.state
        with self.exclusive(wait_seconds=wait_seconds):
            return run_apply(policy=policy, backend_factory=self.backend, hub=hub, state=state, stop=stop)

    def head_check(self, *, wait_seconds: float = 0) -> list[BlacklistEntry]:
        """Look at the newest blacklist entries; report buyers the seller blacklisted by hand there now."""
        state, hub = self.state, self.hub
        with self.exclusive(wait_seconds=wait_seconds):
            return run_head_check(
                backend_factory=self.backend,
                hub=hub,
                state=state,
                default_reason=self.settings.sharing.default_reason,
            )

    def blacklist_add(
        self, member_id: str, name: str, *, reason: str | None = None, wait_seconds: float = 0
    ) -> tuple[BlacklistResult, live.OwnEntryResult | None]:
        """Blacklist a buyer as the seller (the blacklist link) and report them to the hub at once.

        `reason`: one of the hub's reasons (default `sharing.default_reason`). The second item is None when
        the backend did not blacklist the buyer; otherwise it says whether the report reached the hub or
        waits in the outbox.
        """
        reason = check_reason(reason or self.settings.sharing.default_reason)
        state, hub = self.state, self.hub
        with self.exclusive(wait_seconds=wait_seconds):
            with self.backend() as backend:
                backend.ensure_session()
                result = backend.blacklist_by_link(member_id, name)
            if not result.ok:
                return result, None
            return result, live.report_own_entry(state, hub, member_id, name, reason)

    def reasons_warning(self) -> str | None:
        """A sentence when `policy.reasons` can match nothing (see agent.sync.reasons), else None."""
        shared = self.state.shared.entries().values()
        return reasons_warning(
            self.settings.policy.reasons, self.settings.sharing.default_reason, (e.reasons for e in shared)
        )

    def share_all(
        self,
        *,
        dry_run: bool = False,
        stop: threading.Event | None = None,
        progress: ProgressSink | None = None,
        wait_seconds: float = 0,
    ) -> ShareReport:
        """Push the seller's whole blacklist (their own entries only) as a full snapshot."""
        hub, state = self.require_hub(), self.state
        with self.exclusive(wait_seconds=wait_seconds):
            return share_all(
                backend_factory=self.backend,
                hub=hub,
                state=state,
                dry_run=dry_run,
                progress=progress,
                stop=stop,
                default_reason=self.settings.sharing.default_reason,
            )

    def undo(
        self,
        member_id: str | None = None,
        *,
        everything: bool = False,
        dry_run: bool = False,
        progress: ProgressSink | None = None,
        wait_seconds: float = 0,
    ) -> list[BuyerAction]:
        """Remove what the agent added (one buyer or all), allowlist them, and record why."""
        state = self.state
        if dry_run:
            return levers.undo(
                backend_factory=self.backend,
                state=state,
                member_id=member_id,
                everything=everything,
                dry_run=True,
            )
        with self.exclusive(wait_seconds=wait_seconds):
            return levers.undo(
                backend_factory=self.backend,
                state=state,
                member_id=member_id,
                everything=everything,
                progress=progress,
            )

    def blacklist_reviewed(
        self, member_id: str, *, progress: ProgressSink | None = None, wait_seconds: float = 0
    ) -> BuyerAction:
        """Blacklist a buyer held on the review list, as the policy would have (see levers)."""
        state = self.state
        with self.exclusive(wait_seconds=wait_seconds):
            return levers.blacklist_reviewed(
                backend_factory=self.backend, state=state, member_id=member_id, progress=progress
            )

    def remove(self, member_id: str, *, wait_seconds: float = 0) -> RemovalOutcome:
        """Take a buyer off the store's blacklist as the seller; they are allowlisted (see levers).

        The withdrawal of the seller's own report goes to the hub at once (queued if the hub is down).
        """
        state, hub = self.state, self.hub
        with self.exclusive(wait_seconds=wait_seconds):
            outcome = levers.remove(backend_factory=self.backend, state=state, member_id=member_id)
            delivered, problem = live.withdraw_now(state, hub)
            if not delivered and hub is not None:
                logger.warning("the withdrawal of %s waits in the outbox: %s", member_id, problem)
            return outcome

    def dismiss_alert(self, order_id: str) -> bool:
        """The seller checked this order; False when there was no such alert."""
        return levers.dismiss_alert(self.state, order_id)

    def allow(self, member_id: str) -> bool:
        """Never blacklist this buyer automatically; False when already allowlisted."""
        return levers.allow(self.state, member_id)

    def disallow(self, member_id: str) -> bool:
        """Take a buyer off the allowlist; False when not there."""
        return levers.disallow(self.state, member_id)

    def status(self) -> dict[str, Any]:
        return levers.status(self.state)

    def audit(self, *, limit: int = 50) -> dict[str, Any]:
        return levers.audit(self.state, limit=limit)

    # -- lifetime ----------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the kept backend, the hub client (if the session opened it) and the local state."""
        try:
            if self._kept is not None:
                kept, self._kept = self._kept, None
                kept.close()
        finally:
            try:
                if self._hub is not None and self._own_hub:
                    self._hub.close()
            finally:
                if self._state is not None:
                    self._state.close()
                    self._state = None

    def __enter__(self) -> AgentSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
