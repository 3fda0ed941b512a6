"""Steps 7 and 8: change the store's blacklist, one recorded intent per action.

Every addition or removal is written to the local state as a pending intent *before* the backend is asked,
and settled (with the blacklist row and the audit record) in one transaction *after* it answers. If the
process dies in between, the next read of the blacklist settles the intent (agent.reconcile), so a crash
never causes a duplicate, a lost action, or an automatic entry mistaken for the seller's.

Names: the blacklist link needs the name that matches the member id in this store, and the hub's name is one
reporter's spelling (the most recently confirmed report), which a careless or hostile reporter can get
wrong. For a buyer who ordered here, the name on their latest order is tried first and the hub's second,
in the same cycle; a refusal is recorded under the hub's name, so the buyer is tried again once it changes.

A full blacklist: the lowest-score automatic entries make room for higher-score candidates; manual entries
are never touched. Once the store is known to be full, candidates are tried one by one (so a full list
costs one request per cycle, not one per candidate); an addition that succeeds shows the limit was raised.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

from agent.backend.api import Backend
from agent.hub_models import SharedEntry
from agent.models import BlacklistOutcome, BlacklistResult, RemovalOutcome
from agent.policy import Retraction
from agent.reports import BuyerAction, CycleReport
from agent.state import LocalState

logger = logging.getLogger(__name__)

CAPACITY_KEY = "blacklist_capacity"


def action(entry: SharedEntry, why: str = "") -> BuyerAction:
    return BuyerAction(entry.member_id, entry.name, entry.score, entry.reporters, dict(entry.reasons), why)


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
    ) -> None:
        self.backend = backend
        self.state = state
        self.report = report
        self.size = size  # entries on the store's blacklist now
        self.stop = stop or threading.Event()
        self.store_names = store_names or {}  # member id → the buyer's name on their latest order here

    # --- removals -----------------------------------------------------------------------------------
    def remove(self, member_id: str, name: str, *, why: str, details: dict[str, Any]) -> bool:
        """Remove an automatic entry; `why` is the audit action (retract, evict, undo)."""
        intent = self.state.record_intent("remove", member_id, name, why=why, provenance=details)
        outcome = self.backend.remove_from_blacklist(member_id)
        with self.state.transaction():
            self.state.forget_entry(member_id)
            self.state.audit(why, member_id, name, {**details, "outcome": outcome.value})
            self.state.settle_intent(intent, "done", outcome.value)
            if outcome == RemovalOutcome.NOT_LISTED:
                # It was on the blacklist when this cycle read it: the seller removed it by hand meanwhile,
                # which is the seller's veto (rule 3), whatever the agent was about to do.
                self.state.allow(member_id, name, "the seller removed the automatic entry")
                self.state.audit("seller_removed", member_id, name, {"allowlisted": True})
        if outcome == RemovalOutcome.REMOVED:
            self.size -= 1
        logger.info("%s %s: %s", why, member_id, outcome.value)
        return outcome == RemovalOutcome.REMOVED

    def retract(self, retractions: Sequence[Retraction]) -> None:
        """Rule 4: remove automatic entries whose shared entry no longer passes the policy."""
        for r in retractions:
            if self.stop.is_set():
                return
            self.remove(r.member_id, r.name, why="retract", details={"reason": r.why})
            self.report.retracted.append(BuyerAction(r.member_id, r.name, why=r.why))

    # --- additions ----------------------------------------------------------------------------------
    def add(self, entries: Sequence[SharedEntry]) -> None:
        if not entries:
            return
        remaining = list(entries)
        capacity = self.state.get_meta(CAPACITY_KEY)
        if capacity is not None and self.size >= int(capacity):
            remaining = self._add_when_full(remaining)
        while remaining and not self.stop.is_set():
            full = self._add_concurrently(remaining)
            # One by one from here; whatever is left means the limit was raised meanwhile. Each round
            # settles at least one entry, so this ends.
            remaining = self._add_when_full(full) if full and not self.stop.is_set() else []

    def _add_concurrently(self, entries: Sequence[SharedEntry]) -> list[SharedEntry]:
        by_id = {e.member_id: e for e in entries}
        names = {e.member_id: self._link_name(e) for e in entries}
        with self.state.transaction():
            intents = {e.member_id: self._intent(e, names[e.member_id]) for e in entries}
        full: list[SharedEntry] = []
        as_reported: list[SharedEntry] = []  # refused under the store's name: try the hub's
        results: Iterator[BlacklistResult] = self.backend.blacklist_many(
            [(e.member_id, names[e.member_id]) for e in entries]
        )
        try:
            for result in results:
                entry = by_id[result.member_id]
                outcome = self._settle(entry, intents[entry.member_id], result, names[entry.member_id])
                if outcome == BlacklistOutcome.FULL:
                    full.append(entry)
                elif outcome == BlacklistOutcome.MISMATCH and names[entry.member_id] != entry.name:
                    as_reported.append(entry)
                if self.stop.is_set():
                    break  # unsettled intents stay pending: the next read of the blacklist settles them
        finally:
            close = getattr(results, "close", None)
            if close is not None:
                close()  # a generator: stop the work still in flight
        for entry in as_reported:
            if self.stop.is_set():
                break
            if self._try(entry, entry.name) == BlacklistOutcome.FULL:
                full.append(entry)
        return full

    def _add_when_full(self, entries: Sequence[SharedEntry]) -> list[SharedEntry]:
        """One by one, making room when needed; returns the rest once the store proves not to be full."""
        ordered = sorted(entries, key=lambda e: (-e.score, -e.reporters, e.member_id))
        for i, entry in enumerate(ordered):
            if self.stop.is_set():
                return []
            outcome = self._add_one(entry)
            if outcome in (BlacklistOutcome.ADDED, BlacklistOutcome.ALREADY):
                self.state.set_meta(CAPACITY_KEY, None)  # the limit was raised
                return ordered[i + 1 :]
            if outcome != BlacklistOutcome.FULL:
                continue
            victim = self._lowest_automatic_below(entry.score)
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
        name = self._link_name(entry)
        outcome = self._try(entry, name)
        if outcome == BlacklistOutcome.MISMATCH and name != entry.name:
            outcome = self._try(entry, entry.name)
        return outcome

    def _try(self, entry: SharedEntry, name: str) -> BlacklistOutcome:
        intent = self._intent(entry, name)
        return self._settle(entry, intent, self.backend.blacklist_by_link(entry.member_id, name), name)

    def _link_name(self, entry: SharedEntry) -> str:
        return self.store_names.get(entry.member_id) or entry.name

    def _intent(self, entry: SharedEntry, name: str) -> int:
        return self.state.record_intent(
            "add", entry.member_id, name, why="add", provenance=entry.provenance(), score=entry.score
        )

    def _settle(
        self, entry: SharedEntry, intent: int, result: BlacklistResult, name: str
    ) -> BlacklistOutcome:
        outcome = result.outcome
        # Refused under the store's name while the hub spells it otherwise: the caller tries the hub's.
        retry = outcome == BlacklistOutcome.MISMATCH and name != entry.name
        with self.state.transaction():
            if result.ok:
                # "Already blacklisted" is recorded as ours: it is most likely our own earlier attempt that
                # timed out after succeeding, and taking the seller's entry for ours only risks a later
                # retraction, while the reverse would push it to the hub as a report (rule 1).
                self.state.add_agent(entry.member_id, name, provenance=entry.provenance(), score=entry.score)
                self.state.audit(
                    "add", entry.member_id, name, {**entry.provenance(), "outcome": outcome.value}
                )
                self.state.settle_intent(intent, "done", outcome.value)
            elif outcome == BlacklistOutcome.FULL or retry:
                self.state.settle_intent(intent, "failed", outcome.value)
                if outcome == BlacklistOutcome.FULL:
                    self.state.set_meta(CAPACITY_KEY, str(self.size))
            else:
                # Under the hub's name: not tried again until the hub's name for the buyer changes.
                self.state.record_rejection(entry.member_id, entry.name, outcome.value, result.message)
                self.state.audit("add_refused", entry.member_id, name, {"outcome": outcome.value})
                self.state.settle_intent(intent, "failed", outcome.value)
        if result.ok:
            self.size += outcome == BlacklistOutcome.ADDED
            self.report.added.append(action(replace(entry, name=name)))
        elif outcome != BlacklistOutcome.FULL and not retry:
            self.report.refused.append(action(entry, f"{outcome.value} {result.message}".strip()))
        return outcome

    def _lowest_automatic_below(self, score: int) -> BuyerAction | None:
        entries = [e for e in self.state.agent_entries().values() if e.score < score]
        if not entries:
            return None
        low = min(entries, key=lambda e: (e.score, e.added_at is None, e.added_at, e.member_id))
        return BuyerAction(low.member_id, low.name, low.score)

    def _say_full(self, left: int) -> None:
        self.report.blacklist_full = True
        self.report.warnings.append(
            f"the store's blacklist is full: {left} shared buyers not added (no automatic entry with a lower "
            "score can make room, and manual entries are never removed)"
        )
