"""What the dashboard's pages show, computed from the local state as plain data (no HTTP, no HTML).

The "why" card of an automatic entry (docs/safety.md rule 5: every automatic action has provenance), the
blacklist page with each entry's origin, the settings page's preview of a policy over the cached shared list
(the policy's own pure functions, no browser, no hub), and the tail of the agent's log.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from agent.hub_models import SharedEntry, parse_time
from agent.log import LOG_FILE_NAME, redact
from agent.state import LocalState
from agent.state.records import BlacklistRow
from agent.sync.policy import Policy, decide, retractions, why_not

PAGE_SIZE = 50


@dataclass(frozen=True, slots=True)
class WhyCard:
    """Why a buyer is (or would be) blacklisted automatically: the shared entry behind it."""

    member_id: str
    name: str
    reporters: int | None
    score: int | None
    reasons: dict[str, int]
    first_reported_at: datetime | None
    last_reported_at: datetime | None
    added_at: datetime | None = None  # when the agent added it (None: not added by the agent)
    cycle_id: int | None = None
    cycle_kind: str | None = None
    cycle_started_at: datetime | None = None
    at_adding: dict[str, Any] = field(default_factory=dict)  # the provenance recorded when it was added
    policy_says: str | None = None  # None: passes the current policy; else why it does not


def why_card(
    state: LocalState, member_id: str, *, name: str | None = None, policy: Policy | None = None
) -> WhyCard:
    """The card for one buyer, from the cached shared entry and, for an automatic entry, its provenance."""
    shared = state.shared.get(member_id)
    row = state.blacklist.get(member_id)
    provenance = row.provenance if row is not None and row.origin == "agent" else {}
    added_at = row.added_at if row is not None and row.origin == "agent" else None
    cycle = state.cycles.running_at(added_at) if added_at is not None else None
    return WhyCard(
        member_id=member_id,
        name=name or (shared.name if shared else row.name if row else member_id),
        reporters=shared.reporters if shared else provenance.get("reporters"),
        score=shared.score if shared else provenance.get("score"),
        reasons=dict(shared.reasons) if shared else dict(provenance.get("reasons") or {}),
        first_reported_at=shared.first_reported_at if shared else None,
        last_reported_at=shared.last_reported_at
        if shared
        else parse_time(provenance.get("last_reported_at")),
        added_at=added_at,
        cycle_id=cycle.id if cycle else None,
        cycle_kind=cycle.kind if cycle else None,
        cycle_started_at=cycle.started_at if cycle else None,
        at_adding=provenance,
        policy_says=why_not(shared, policy) if policy is not None else None,
    )


@dataclass(frozen=True, slots=True)
class BlacklistPage:
    rows: list[BlacklistRow]
    total: int
    page: int
    pages: int
    allowlisted: set[str]
    cards: dict[str, WhyCard]


def blacklist_page(
    state: LocalState, *, search: str, origin: str | None, page: int, policy: Policy | None
) -> BlacklistPage:
    kind = origin if origin in ("manual", "agent") else None
    page = max(1, page)
    rows, total = state.blacklist.listing(
        search=search.strip(),
        origin=kind,  # type: ignore[arg-type]
        offset=(page - 1) * PAGE_SIZE,
        limit=PAGE_SIZE,
    )
    cards = {
        r.member_id: why_card(state, r.member_id, name=r.name, policy=policy)
        for r in rows
        if r.origin == "agent"
    }
    pages = max(1, -(-total // PAGE_SIZE))
    return BlacklistPage(rows, total, page, pages, state.allowlist.ids(), cards)


@dataclass(frozen=True, slots=True)
class PolicyPreview:
    """What a policy would do now over the cached shared list, against the store's blacklist as last read."""

    shared_entries: int
    would_add: int  # in all (this cycle and the next ones)
    add_next_cycle: int  # of which in the next cycle (max_new_per_sync)
    held_for_review: int
    would_retract: int
    allowlisted_skipped: int
    examples_add: list[SharedEntry]
    examples_retract: list[tuple[str, str, str]]  # (member id, name, why)
    pulled: bool  # the shared list has been pulled whole at least once


def policy_preview(state: LocalState, policy: Policy) -> PolicyPreview:
    """Run the policy's pure functions (`decide`, `retractions`) over the local state; changes nothing."""
    shared = state.shared.entries()
    decision = decide(
        shared.values(),
        policy=policy,
        blacklisted=set(state.blacklist.known()),
        allowlisted=state.allowlist.ids(),
        completed_orders=state.orders.completed_counts(),
        rejected=state.rejections.names(),
    )
    automatic = {m: e.name for m, e in state.blacklist.automatic().items()}
    retract = retractions(automatic, shared, policy)
    return PolicyPreview(
        shared_entries=len(shared),
        would_add=len(decision.to_add) + len(decision.deferred),
        add_next_cycle=len(decision.to_add),
        held_for_review=len(decision.review),
        would_retract=len(retract),
        allowlisted_skipped=decision.skipped_allowlisted,
        examples_add=decision.to_add[:5],
        examples_retract=[(r.member_id, r.name, r.why) for r in retract[:5]],
        pulled=state.feed.load().pulled,
    )


def log_tail(log_dir: Path, *, lines: int = 200) -> tuple[Path, list[str]]:
    """The last lines of the background agent's log (already redacted when written; masked again here)."""
    path = log_dir / LOG_FILE_NAME
    try:
        with path.open(encoding="utf-8", errors="replace") as f:
            tail = deque(f, maxlen=lines)
    except FileNotFoundError:
        return path, []
    return path, [redact(line.rstrip("\n")) for line in tail]
