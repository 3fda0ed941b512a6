"""Steps 7 and 8: change the store's blacklist, one recorded intent per action.

Every addition or removal is written to the local state as a pending intent *before* the backend is asked,
and settled (with the blacklist row and the audit record) in one transaction *after* it answers. If the
process dies in between, the next read of the blacklist settles the intent (agent.sync.reconcile), so a crash
never causes a duplicate, a lost action, or an automatic entry mistaken for the seller's.

This module only carries decisions out; the policy (agent.sync.policy) makes them: which names a link
tries and in which order (`link_names`), whose an "already blacklisted" entry is, which automatic entry
makes room on a full blacklist (`eviction_victim`) and in which order candidates go then
(`order_when_full`). A refusal is recorded under the hub's name, so the buyer is tried again once the hub's
name for it changes. Once the store is known to be full, candidates are tried one by one (a full list costs
one request per cycle, not one per candidate); an addition that succeeds shows the limit was raised.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

from agent.backend.api import Backend
from agent.hub_models import SharedEntry
from agent.models import BlacklistEntry, BlacklistOutcome, BlacklistResult, RemovalOutcome
from agent.state import LocalState
from agent.sync.cycle_result import BuyerAction, CycleReport
from agent.sync.policy import (
    Evictable,
    Retraction,
    eviction_victim,
    link_names,
    order_when_full,
    origin_after_link,
)
from agent.sync.progress import Progress, ProgressSink

logger = logging.getLogger(__name__)


class Applier:
    """Adds and removes blacklist entries for one cycle, keeping the local state and report in step."""

    def __init__(
        self,
        backend: Backend,
        state: LocalState,
        report: CycleReport,
        *,
        size: int,
        stop: threading.Event | None = None,
        store_names: Mapping[str, str] | None = None,
        progress: ProgressSink | None = None,
    ) -> None:
        self.backend = backend
        self.state = state
        self.report = report
        self.size = size  # entries on the store's blacklist now
        self.stop = stop or threading.Event()
        self.store_names = store_names or {}  # member id → the buyer's name on their latest order here
        self.progress = progress or (lambda _: None)
        self._planned = 0  # additions asked for in this cycle (for progress)

    # --- removals -----------------------------------------------------------------------------------
    def remove(self, member_id: str, name: str, *, why: str, details: dict[str, Any]) -> bool:
        """Remove an automatic entry; `why` is the audit action (retract, evict, undo)."""
        intent = self.state.intents.record("remove", member_id, name, why=why, provenance=details)
        outcome = self.backend.remove_from_blacklist(member_id)
        with self.state.transaction():
            self.state.blacklist.forget(member_id)
            self.state.audit.record(why, member_id, name, {**details, "outcome": outcome.value})
            self.state.intents.settle(intent, "done", outcome.value)
            if outcome == RemovalOutcome.NOT_LISTED:
                # It was on the blacklist when this cycle read it: the seller removed it by hand meanwhile,
                # which is the seller's veto (docs/safety.md rule 3), whatever the agent was about to do.
                self.state.allowlist.add(member_id, name, "the seller removed the automatic entry")
                self.state.audit.record("seller_removed", member_id, name, {"allowlisted": True})
        if outcome == RemovalOutcome.REMOVED:
            self.size -= 1
        logger.info("%s %s: %s", why, member_id, outcome.value)
        return outcome == RemovalOutcome.REMOVED

    def retract(self, retractions: Sequence[Retraction]) -> None:
        """docs/safety.md rule 4: remove automatic entries whose shared entry no longer passes the policy."""
        for r in retractions:
            if self.stop.is_set():
                return
            self.remove(r.member_id, r.name, why="retract", details={"reason": r.why})
            self.report.retracted.append(BuyerAction(r.member_id, r.name, why=r.why))
            self.progress(Progress("retract", len(self.report.retracted), len(retractions), r.member_id))

    # --- additions ----------------------------------------------------------------------------------
    def add(self, entries: Sequence[SharedEntry]) -> None:
        if not entries:
            return
        self._planned = len(entries)
        remaining = list(entries)
        capacity = self.state.blacklist.known_capacity
        if capacity is not None and self.size >= capacity:
            remaining = self._add_when_full(remaining)
        while remaining and not self.stop.is_set():
            full = self._add_concurrently(remaining)
            # One by one from here; whatever is left means the limit was raised meanwhile. Each round
            # settles at least one entry, so this ends.
            remaining = self._add_when_full(full) if full and not self.stop.is_set() else []

    def _add_concurrently(self, entries: Sequence[SharedEntry]) -> list[SharedEntry]:
        by_id = {e.member_id: e for e in entries}
        tries = {e.member_id: self._link_names(e) for e in entries}
        names = {member_id: names[0] for member_id, names in tries.items()}
        with self.state.transaction():
            intents = {e.member_id: self._intent(e, names[e.member_id]) for e in entries}
        full: list[SharedEntry] = []
        as_reported: list[SharedEntry] = []  # refused under the first name: try the next ones
        results: Iterator[BlacklistResult] = self.backend.blacklist_many(
            [(e.member_id, names[e.member_id]) for e in entries]
        )
        try:
            for result in results:
                entry = by_id[result.member_id]
                outcome = self._settle(entry, intents[entry.member_id], result, names[entry.member_id])
                if outcome == BlacklistOutcome.FULL:
                    full.append(entry)
                elif outcome == BlacklistOutcome.MISMATCH and len(tries[entry.member_id]) > 1:
                    as_reported.append(entry)
                if self.stop.is_set():
                    break  # unsettled intents stay pending: the next read of the blacklist settles them
        finally:
            close = getattr(results, "close", None)
            if close is not None:
                close()  # a generator: stop the work still in flight
        for entry in as_reported:
            for name in tries[entry.member_id][1:]:
                if self.stop.is_set():
                    return full
                outcome = self._try(entry, name)
                if outcome == BlacklistOutcome.FULL:
                    full.append(entry)
                if outcome != BlacklistOutcome.MISMATCH:
                    break
        return full

    def _add_when_full(self, entries: Sequence[SharedEntry]) -> list[SharedEntry]:
        """One by one, making room when needed; returns the rest once the store proves not to be full."""
        ordered = order_when_full(entries)
        for i, entry in enumerate(ordered):
            if self.stop.is_set():
                return []
            outcome = self._add_one(entry)
            if outcome in (BlacklistOutcome.ADDED, BlacklistOutcome.ALREADY):
                self.state.blacklist.known_capacity = None  # the limit was raised
                return ordered[i + 1 :]
            if outcome != BlacklistOutcome.FULL:
                continue
            victim = eviction_victim(self._evictable(), for_score=entry.score)
            if victim is None:
                self._say_full(len(ordered) - i)
                return []
            self.remove(
                victim.member_id, victim.name, why="evict", details={"to_make_room_for": entry.member_id}
            )
            self.report.evicted.append(
                BuyerAction(victim.member_id, victim.name, victim.score, why="make room")
            )
            if self._add_one(entry) == BlacklistOutcome.FULL:
                self._say_full(len(ordered) - i)
                return []
        return []

    def _add_one(self, entry: SharedEntry) -> BlacklistOutcome:
        outcome = BlacklistOutcome.MISMATCH
        for name in self._link_names(entry):
            outcome = self._try(entry, name)
            if outcome != BlacklistOutcome.MISMATCH:
                break
        return outcome

    def _try(self, entry: SharedEntry, name: str) -> BlacklistOutcome:
        intent = self._intent(entry, name)
        return self._settle(entry, intent, self.backend.blacklist_by_link(entry.member_id, name), name)

    def _link_names(self, entry: SharedEntry) -> list[str]:
        return link_names(entry, self.store_names.get(entry.member_id))

    def _intent(self, entry: SharedEntry, name: str) -> int:
        return self.state.intents.record(
            "add", entry.member_id, name, why="add", provenance=entry.provenance(), score=entry.score
        )

    def _settle(
        self, entry: SharedEntry, intent: int, result: BlacklistResult, name: str
    ) -> BlacklistOutcome:
        outcome = result.outcome
        # Refused under another name than the hub's: the caller tries the next name (the hub's is last).
        retry = outcome == BlacklistOutcome.MISMATCH and name != entry.name
        with self.state.transaction():
            if result.ok:
                self._record_added(entry, name, outcome)
                self.state.intents.settle(intent, "done", outcome.value)
            elif outcome == BlacklistOutcome.FULL or retry:
                self.state.intents.settle(intent, "failed", outcome.value)
                if outcome == BlacklistOutcome.FULL:
                    self.state.blacklist.known_capacity = self.size
            else:
                # Under the hub's name: not tried again until the hub's name for the buyer changes.
                self.state.rejections.record(entry.member_id, entry.name, outcome.value, result.message)
                self.state.audit.record("add_refused", entry.member_id, name, {"outcome": outcome.value})
                self.state.intents.settle(intent, "failed", outcome.value)
        if not retry and outcome != BlacklistOutcome.FULL:
            done = len(self.report.added) + len(self.report.refused) + (0 if result.ok else 1)
            self.progress(Progress("add", done, self._planned or None, entry.member_id))
        if result.ok:
            self.size += outcome == BlacklistOutcome.ADDED
            self.report.added.append(BuyerAction.from_entry(replace(entry, name=name)))
        elif outcome != BlacklistOutcome.FULL and not retry:
            self.report.refused.append(
                BuyerAction.from_entry(entry, f"{outcome.value} {result.message}".strip())
            )
        return outcome

    def _record_added(self, entry: SharedEntry, name: str, outcome: BlacklistOutcome) -> None:
        origin = origin_after_link(outcome)
        if origin == "manual":
            self.state.blacklist.add_manual(BlacklistEntry(entry.member_id, name))
        elif origin == "agent":
            self.state.blacklist.add_automatic(
                entry.member_id, name, provenance=entry.provenance(), score=entry.score
            )
        details = {**entry.provenance(), "outcome": outcome.value}
        self.state.audit.record("add", entry.member_id, name, details)

    def _evictable(self) -> list[Evictable]:
        return [
            Evictable(e.member_id, e.name, e.score, e.added_at)
            for e in self.state.blacklist.automatic().values()
        ]

    def _say_full(self, left: int) -> None:
        self.report.blacklist_full = True
        self.report.warnings.append(
            f"the store's blacklist is full: {left} shared buyers not added (no automatic entry with a lower "
            "score can make room, and manual entries are never removed)"
        )
