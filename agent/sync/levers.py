"""The seller's levers on the agent: allow, disallow, undo, review, remove, and what `status` and `audit`
show.

docs/safety.md rule 3 (the seller always wins) and rule 5 (every automatic action has provenance and can be
undone) from the seller's side. `undo` allowlists first and removes second, so a crash in between leaves
the buyer allowlisted (never re-added) with the entry still there for a second `undo`, never the reverse.
The caller holds the cycle lock for `undo`, `blacklist_reviewed` and `remove` (`AgentSession` takes it).
"""

from __future__ import annotations

import logging
from typing import Any

from agent.errors import NotAutomatic, NotOnReviewList
from agent.models import RemovalOutcome
from agent.state import LocalState
from agent.sync.apply import Applier
from agent.sync.cycle_result import BuyerAction, CycleReport, to_data
from agent.sync.engine import BackendFactory
from agent.sync.progress import Progress, ProgressSink
from agent.sync.reconcile import reconcile

logger = logging.getLogger(__name__)


def allow(state: LocalState, member_id: str, *, reason: str = "allowed by the seller") -> bool:
    """Never blacklist this buyer automatically; False when already allowlisted."""
    entry = state.shared.get(member_id)
    with state.transaction():
        added = state.allowlist.add(member_id, entry.name if entry else None, reason)
        if added:
            state.audit.record("allow", member_id, entry.name if entry else None, {"reason": reason})
    return added


def disallow(state: LocalState, member_id: str) -> bool:
    """Take a buyer off the allowlist (the policy may add them again); False when not there."""
    with state.transaction():
        removed = state.allowlist.remove(member_id)
        if removed:
            state.audit.record(
                "disallow", member_id, None, {"reason": "removed from the allowlist by the seller"}
            )
    return removed


def undo(
    *,
    backend_factory: BackendFactory,
    state: LocalState,
    member_id: str | None = None,
    everything: bool = False,
    dry_run: bool = False,
    progress: ProgressSink | None = None,
) -> list[BuyerAction]:
    """Remove what the agent added (one buyer, or all), allowlist them, and record why.

    A dry run reads nothing from the store and changes nothing: it lists what the agent believes it added.
    """
    if (member_id is None) == (not everything):
        raise ValueError("give a member id or everything=True")
    if member_id is not None:
        _check_automatic(state, member_id)  # before starting a browser: refusing needs none
    if dry_run:
        automatic = state.blacklist.automatic()
        targets = [automatic[member_id]] if member_id in automatic else []
        if everything:
            targets = list(automatic.values())
        return [
            BuyerAction(e.member_id, e.name, e.score, why="would be undone and allowlisted") for e in targets
        ]
    undone: list[BuyerAction] = []
    with backend_factory() as backend:
        backend.ensure_session()
        seen = backend.read_blacklist()
        reconcile(state, seen)  # the store's truth first: the seller may have removed some already
        automatic = state.blacklist.automatic()
        if member_id is not None:
            _check_automatic(state, member_id)
        targets = [automatic[member_id]] if member_id is not None else list(automatic.values())
        applier = Applier(backend, state, CycleReport(), size=len(seen))
        for entry in targets:
            with state.transaction():
                state.allowlist.add(entry.member_id, entry.name, "undone by the seller")
            applier.remove(entry.member_id, entry.name, why="undo", details={"was": entry.provenance})
            undone.append(
                BuyerAction(entry.member_id, entry.name, entry.score, why="undone, now allowlisted")
            )
            if progress is not None:
                progress(Progress("undo", len(undone), len(targets), entry.member_id))
    return undone


def blacklist_reviewed(
    *,
    backend_factory: BackendFactory,
    state: LocalState,
    member_id: str,
    progress: ProgressSink | None = None,
) -> BuyerAction:
    """The seller read a held-back buyer on the review list and says: blacklist them.

    The buyer is added exactly as the policy would have added them without the good-customer protection:
    through the blacklist link, as an automatic entry with the shared entry's provenance (docs/safety.md
    rule 5), so it is never pushed as this seller's own report (rule 1: the seller's decision rests on the
    other stores' reports, not on a case of their own) and `undo` can take it back.
    """
    if member_id not in {r.member_id for r in state.review.items()}:
        raise NotOnReviewList(f"{member_id} is not on the review list (a sync may have settled it)")
    entry = state.shared.get(member_id)
    if entry is None:
        raise NotOnReviewList(f"{member_id} is no longer on the shared list; nothing to blacklist")
    report = CycleReport()
    with backend_factory() as backend:
        backend.ensure_session()
        seen = backend.read_blacklist()
        reconcile(state, seen)
        if member_id not in {e.member_id for e in seen}:
            applier = Applier(
                backend,
                state,
                report,
                size=len(seen),
                store_names=state.orders.buyer_names(),
                progress=progress,
            )
            applier.add([entry])
    with state.transaction():
        state.review.remove(member_id)
        state.audit.record(
            "review_blacklisted", member_id, entry.name, {"by": "the seller", **entry.provenance()}
        )
    if report.refused:
        refused = report.refused[0]
        raise NotOnReviewList(f"the store refused to blacklist {entry.name} ({member_id}): {refused.why}")
    if report.blacklist_full:
        raise NotOnReviewList(f"the store's blacklist is full; {entry.name} ({member_id}) was not added")
    return BuyerAction.from_entry(entry, "blacklisted by the seller from the review list")


def remove(*, backend_factory: BackendFactory, state: LocalState, member_id: str) -> RemovalOutcome:
    """The seller takes a buyer off the store's blacklist (their own entry, or the agent's).

    The store's blacklist is read again afterwards and taken in as any seller's change is
    (agent.sync.reconcile): the seller's own entry is withdrawn from the hub, and either kind of entry puts
    the buyer on the allowlist, so the agent never adds them back (docs/safety.md rule 3).
    """
    with backend_factory() as backend:
        backend.ensure_session()
        outcome = backend.remove_from_blacklist(member_id)
        reconcile(state, backend.read_blacklist())
    logger.info("the seller removed %s from the blacklist: %s", member_id, outcome.value)
    return outcome


def dismiss_alert(state: LocalState, order_id: str) -> bool:
    """The seller checked an order from a buyer on the shared list; False when there was no such alert."""
    with state.transaction():
        alert = state.alerts.dismiss(order_id)
        if alert is not None:
            state.audit.record("alert_dismissed", alert.member_id, alert.name, {"order_id": order_id})
    return alert is not None


def _check_automatic(state: LocalState, member_id: str) -> None:
    if member_id in state.blacklist.automatic():
        return
    if any(i.member_id == member_id and i.action == "add" for i in state.intents.pending()):
        return  # an addition interrupted by a crash: the blacklist read settles it
    origin = state.blacklist.known().get(member_id)
    why = "it was added by hand" if origin else "the agent has not blacklisted this buyer"
    raise NotAutomatic(f"{member_id} is not an automatic entry ({why}); the agent only undoes its own")


def status(state: LocalState) -> dict[str, Any]:
    """Everything `status` shows, as data."""
    last = state.cycles.last()
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
            "next_run_at": state.cycles.next_run_at,
            "blacklist": state.blacklist.counts_by_origin(),
            "allowlist": len(state.allowlist.ids()),
            "outbox": state.outbox.counts(),
            "pending_intents": len(state.intents.pending()),
            "alerts": state.alerts.recent(limit=20),
            "review": state.review.items(),
        }
    )
    return data


def audit(state: LocalState, *, limit: int = 50) -> dict[str, Any]:
    """Each automatic entry with its provenance, and the latest automatic actions."""
    data: dict[str, Any] = to_data(
        {
            "automatic_entries": list(state.blacklist.automatic().values()),
            "log": state.audit.recent(limit=limit),
        }
    )
    return data
