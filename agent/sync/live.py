"""Live protection: hear of the hub's changes within seconds, and report the seller's own entries at once.

Two halves, both cheap while nothing happens:
- `FeedWaiter` keeps one long-poll wait open on the hub's feed (`GET /v1/feed?cursor=…&wait=55`,
  docs/hub-api.md "Waiting for changes"): about one hub request a minute, no browser, no backend request.
  It only *notices* changes; the background agent then runs the apply-only step
  (`agent.sync.engine.run_apply`) under the cycle lock, which pulls and applies them with a cycle's rules.
  The waiter follows its own copy of the cursor between apply steps, and takes the saved one again as soon
  as a cycle or an apply step moved it.
- `report_own_entry` / `withdraw_now`: a buyer the seller blacklists (or removes) through the agent is
  recorded as the seller's own entry and pushed right away; when the hub is down, it waits in the outbox.

A hub that publishes in batches (a short publication delay) only delays the wake-up: the wait answers when
the change is published, and the apply step pulls what was published by then.
"""

from __future__ import annotations

import logging
import random
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from agent.errors import FeedCursorExpired, HubRateLimited, HubRejected, HubUnavailable
from agent.hub_client import HubClient
from agent.hub_models import Report
from agent.models import BlacklistEntry
from agent.state import LocalState
from agent.sync import reasons
from agent.sync.feed import PAGE_LIMIT
from agent.sync.outbox import deliver_outbox

logger = logging.getLogger(__name__)

WAIT_SECONDS = 55  # under the 60 s that proxies commonly allow a silent connection
BACKOFF_START, BACKOFF_MAX = 5.0, 60.0
REFUSED_PAUSE = 600.0  # a refused token or a disabled seller: the cycles say so; listen again much later


class FeedWaiter:
    """One long-poll wait at a time on the hub's feed, from the cursor the local state last saved.

    `wait(stop)` returns True when the feed moved past the cursor (the apply step should run), False after
    a quiet wait, a pause after an error, or a stop request. It never raises for a hub problem.
    """

    def __init__(
        self,
        hub: HubClient,
        state_path: Path,
        *,
        wait_seconds: int = WAIT_SECONDS,
    ) -> None:
        self.hub = hub
        self.state_path = state_path
        self.wait_seconds = wait_seconds
        self._adopted: tuple[int, str | None] | None = None  # the saved cursor last taken over
        self._position = 0
        self._etag: str | None = None
        self._expired: tuple[int, str | None] | None = None
        self._failures = 0
        self.requests = 0  # waits sent (tests and benchmarks read it)
        self.wakes = 0

    def wait(self, stop: threading.Event) -> bool:
        saved = self._saved_cursor()
        if saved is None or saved == self._expired:
            # No complete pull yet (the first cycle does it), or an expired cursor the apply step has not
            # re-pulled yet: nothing to wait from.
            stop.wait(min(self.wait_seconds, 5.0))
            return False
        if saved != self._adopted:
            self._adopted = saved
            self._position, self._etag = saved
            self._expired = None
        self.requests += 1
        try:
            page = self.hub.feed(self._position, etag=self._etag, limit=PAGE_LIMIT, wait=self.wait_seconds)
        except FeedCursorExpired:
            self._expired = saved
            self._failures = 0
            self.wakes += 1
            return True  # the apply step re-pulls from the start
        except HubRateLimited as exc:
            self._pause(stop, exc.retry_after or BACKOFF_MAX, f"rate-limited: {exc}")
            return False
        except HubRejected as exc:
            if exc.status_code in (401, 403):
                self._pause(stop, REFUSED_PAUSE, f"the hub refused this agent: {exc}", level=logging.ERROR)
            else:
                self._pause(stop, self._backoff(), str(exc))
            return False
        except HubUnavailable as exc:
            self._pause(stop, self._backoff(), str(exc))
            return False
        self._failures = 0
        if page is None:  # 304: nothing changed during the wait
            return False
        moved = bool(page.changes) or page.next_cursor != self._position
        self._position, self._etag = page.next_cursor, page.etag
        if moved:
            self.wakes += 1
            logger.info("the shared list changed (%d changes): applying soon", len(page.changes))
        return moved

    def _saved_cursor(self) -> tuple[int, str | None] | None:
        if not self.state_path.exists():
            return None  # the first cycle creates the state
        try:
            with LocalState.open(self.state_path) as state:
                cursor = state.feed.load()
        except sqlite3.Error as exc:  # e.g. the first cycle is creating the state right now
            logger.debug("cannot read the feed cursor yet: %s", exc)
            return None
        if not cursor.pulled or cursor.full_pull:
            return None
        return cursor.position, cursor.etag

    def _backoff(self) -> float:
        self._failures += 1
        delay = min(BACKOFF_MAX, BACKOFF_START * 2 ** (self._failures - 1))
        return float(delay * random.uniform(0.8, 1.2))

    def _pause(
        self, stop: threading.Event, seconds: float, why: str, *, level: int = logging.WARNING
    ) -> None:
        logger.log(level, "listening to the hub paused for %.0f s: %s", seconds, why)
        stop.wait(seconds)


# -- the seller's own side -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OwnEntryResult:
    """What became of a buyer the seller blacklisted through the agent."""

    recorded: bool  # taken in as the seller's own entry (False: the agent's entry, or already known)
    reason: str
    pushed: bool  # the hub has it now (False: queued in the outbox, or nothing to push)
    problem: str | None = None  # why it stays queued


def report_own_entry(
    state: LocalState, hub: HubClient | None, member_id: str, name: str, reason: str
) -> OwnEntryResult:
    """Record a buyer the backend just confirmed as blacklisted by the seller, and report it now.

    An entry the agent added from the shared list stays the agent's (it is never pushed as this seller's
    report; docs/safety.md rule 1). The seller's own entry gets `reason` (a new reason for a known entry
    is reported again). The caller holds the cycle lock.
    """
    known = state.blacklist.known().get(member_id)
    if known is not None and known.origin != "manual":
        return OwnEntryResult(False, reason, False, "the agent added this buyer from the shared list")
    with state.transaction():
        if known is None:
            state.blacklist.add_manual(BlacklistEntry(member_id, name, datetime.now(UTC)))
        elif reasons.own_reason(state, member_id) == reason:
            return OwnEntryResult(False, reason, False)
        reasons.remember(state, member_id, reason)
        state.outbox.queue_report(Report(member_id, name, reason, datetime.now(UTC)))
    pushed, problem = _deliver(state, hub)
    return OwnEntryResult(True, reason, pushed, problem)


def withdraw_now(state: LocalState, hub: HubClient | None) -> tuple[bool, str | None]:
    """Deliver the withdrawals (and reports) the seller's last change queued: (delivered, problem)."""
    return _deliver(state, hub)


def _deliver(state: LocalState, hub: HubClient | None) -> tuple[bool, str | None]:
    if hub is None:
        return False, "no hub is configured (hub.url)"
    if not state.outbox.items():
        return True, None
    result = deliver_outbox(hub, state)
    if result.error:
        return False, result.error
    if result.rejected:
        return False, "the hub refused it (see `blacklist-agent status`)"
    return True, None
