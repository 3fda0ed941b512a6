"""The seller's levers on the agent: allow, undo, and what `status` and `audit` show.

Rule 3 (the seller always wins) and rule 5 (every automatic action has provenance and can be undone)
from the seller's side. `undo` allowlists first and removes second, so a crash in between leaves the buyer
allowlisted (never re-added) with the entry still there for a second `undo`, never the reverse.
"""

from __future__ import annotations

import logging
from typing import Any

from agent.apply import Applier
from agent.config import Settings
from agent.errors import AgentError
from agent.reconcile import reconcile
from agent.reports import BuyerAction, CycleReport, to_data
from agent.state import LocalState
from agent.sync import BackendFactory, cycle_lock

logger = logging.getLogger(__name__)


class NotAutomatic(AgentError):
    """`undo` was asked to remove an entry the agent did not add (the seller's own are never touched)."""


def allow(state: LocalState, member_id: str, *, reason: str = "allowed by the seller") -> bool:
    """Never blacklist this buyer automatically; False when already allowlisted."""
    entry = state.shared_entry(member_id)
    with state.transaction():
        added = state.allow(member_id, entry.name if entry else None, reason)
        if added:
            state.audit("allow", member_id, entry.name if entry else None, {"reason": reason})
    return added


def undo(
    settings: Settings,
    *,
    backend_factory: BackendFactory,
    state: LocalState,
    member_id: str | None = None,
    everything: bool = False,
) -> list[BuyerAction]:
    """Remove what the agent added (one buyer, or all), allowlist them, and record why."""
    if (member_id is None) == (not everything):
        raise ValueError("give a member id or everything=True")
    if member_id is not None:
        _check_automatic(state, member_id)  # before starting a browser: refusing needs none
    undone: list[BuyerAction] = []
    with cycle_lock(settings), backend_factory() as backend:
        backend.ensure_session()
        seen = backend.read_blacklist()
        reconcile(state, seen)  # the store's truth first: the seller may have removed some already
        automatic = state.agent_entries()
        if member_id is not None:
            _check_automatic(state, member_id)
        targets = [automatic[member_id]] if member_id is not None else list(automatic.values())
        applier = Applier(backend, state, CycleReport(), size=len(seen))
        for entry in targets:
            with state.transaction():
                state.allow(entry.member_id, entry.name, "undone by the seller")
            applier.remove(entry.member_id, entry.name, why="undo", details={"was": entry.provenance})
            undone.append(
                BuyerAction(entry.member_id, entry.name, entry.score, why="undone, now allowlisted")
            )
    return undone


def _check_automatic(state: LocalState, member_id: str) -> None:
    if member_id in state.agent_entries():
        return
    if any(i.member_id == member_id and i.action == "add" for i in state.pending_intents()):
        return  # an addition interrupted by a crash: the blacklist read settles it
    origin = state.known_entries().get(member_id)
    why = "it was added by hand" if origin else "the agent has not blacklisted this buyer"
    raise NotAutomatic(f"{member_id} is not an automatic entry ({why}); the agent only undoes its own")


def status(state: LocalState) -> dict[str, Any]:
    """Everything `status` shows, as data."""
    last = state.last_cycle()
    summary = None
    if last is not None:
        r = last.report or {}
        summary = {
            "kind": last.kind,
            "started_at": last.started_at,
            "finished_at": last.finished_at,
            "outcome": last.outcome or "running (or interrupted)",
            "added": len(r.get("added", [])),
            "retracted": len(r.get("retracted", [])),
            "reports_pushed": r.get("reports_pushed", 0),
            "withdrawals_pushed": r.get("withdrawals_pushed", 0),
            "errors": r.get("errors", []),
            "warnings": r.get("warnings", []),
        }
    data: dict[str, Any] = to_data(
        {
            "last_cycle": summary,
            "next_run_at": state.next_run_at(),
            "blacklist": state.counts_by_origin(),
            "allowlist": len(state.allowlisted()),
            "outbox": state.outbox_counts(),
            "pending_intents": len(state.pending_intents()),
            "alerts": state.alerts(limit=20),
            "review": state.review_list(),
        }
    )
    return data


def audit(state: LocalState, *, limit: int = 50) -> dict[str, Any]:
    """Each automatic entry with its provenance, and the latest automatic actions."""
    data: dict[str, Any] = to_data(
        {
            "automatic_entries": list(state.agent_entries().values()),
            "log": state.audit_log(limit=limit),
        }
    )
    return data
