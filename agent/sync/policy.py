"""The local policy: which shared entries this store trusts enough to blacklist automatically.

Pure functions over plain data (docs/safety.md: rule 2, consensus before action; rule 3, the seller
always wins; rule 4, retractions propagate). The sync engine feeds them the pooled list, the store's
blacklist, the allowlist and order counts, and acts on what they return; the executor (agent.sync.apply)
asks them too: which names to try in a link, whose an "already blacklisted" entry is, what makes room on a
full blacklist and in which order candidates go.

Reasons: when `reasons` is set, only reporters who gave one of those reasons count towards
`min_reporters` (each store has one report per buyer, so the hub's per-reason counts add up to its
reporter count). "At least 2 stores for fraud or chargeback" is thus expressible.

Standing: a hub that weighs its sellers sends `weight`, the sum of the counting reporters' standings (each
in [0, 1]). The policy then compares the weight with `min_reporters`, so two reporters of half standing
count as one (docs/safety.md rule 9); an older hub sends no weight and each reporter counts as one.

Names: the hub keeps a name as reporters spelled it and the store shows it as the marketplace spells it;
they are compared normalised (NFC, case-folded) on both sides (`same_name`).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from agent.config import PolicySettings
from agent.errors import ConfigError
from agent.hub_models import REASONS, SharedEntry
from agent.models import BlacklistOutcome, Origin, ReviewItem
from agent.wording import plural


@dataclass(frozen=True, slots=True)
class Policy:
    min_reporters: int = 2
    min_score: int | None = None
    reasons: frozenset[str] = frozenset()
    protect_min_orders: int = 3
    max_new_per_sync: int = 200

    @classmethod
    def from_settings(cls, policy: PolicySettings) -> Policy:
        """Build from `Settings.policy`; an unknown reason is a ConfigError (a typo would match nothing)."""
        unknown = sorted(set(policy.reasons) - set(REASONS))
        if unknown:
            raise ConfigError(
                f"policy.reasons: unknown reason(s) {', '.join(unknown)}; use some of {', '.join(REASONS)}",
                key="policy.reasons",
            )
        return cls(
            min_reporters=policy.min_reporters,
            min_score=policy.min_score,
            reasons=frozenset(policy.reasons),
            protect_min_orders=policy.protect_min_orders,
            max_new_per_sync=policy.max_new_per_sync,
        )


def same_name(a: str | None, b: str | None) -> bool:
    """Whether two spellings name the same buyer: NFC-normalised and case-folded on both sides."""
    if a is None or b is None:
        return a is b
    return _folded(a) == _folded(b)


def _folded(name: str) -> str:
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", name).casefold())


def qualifying_reporters(entry: SharedEntry, policy: Policy) -> float:
    """How much the reporters count for this policy: their weight (or number), all of them or only
    those whose reason is allowed (weighed at the entry's mean standing)."""
    if not policy.reasons:
        return entry.standing
    allowed = sum(count for reason, count in entry.reasons.items() if reason in policy.reasons)
    if entry.weight is None or entry.reporters == 0:
        return allowed
    return allowed * entry.weight / entry.reporters


def why_not(entry: SharedEntry | None, policy: Policy) -> str | None:
    """None when the entry passes the policy, else a sentence saying why it does not."""
    if entry is None:
        return "no longer on the shared list"
    counted = qualifying_reporters(entry, policy)
    if counted < policy.min_reporters - 1e-9:
        which = "reporter" if not policy.reasons else "reporter with an allowed reason"
        if entry.weight is not None:
            return f"{which}s weigh {counted:.2f}, policy needs {policy.min_reporters}"
        return f"{plural(int(counted), which, which + 's')}, policy needs {policy.min_reporters}"
    if policy.min_score is not None and entry.score < policy.min_score:
        return f"score {entry.score} below the policy minimum {policy.min_score}"
    return None


def passes(entry: SharedEntry | None, policy: Policy) -> bool:
    return why_not(entry, policy) is None


def by_priority(entries: Iterable[SharedEntry]) -> list[SharedEntry]:
    """Highest score first; more standing, then member id, break ties so runs are repeatable."""
    return sorted(entries, key=lambda e: (-e.score, -e.standing, e.member_id))


@dataclass(slots=True)
class Decision:
    to_add: list[SharedEntry] = field(default_factory=list)
    review: list[ReviewItem] = field(default_factory=list)
    deferred: list[SharedEntry] = field(default_factory=list)  # over max_new_per_sync: next cycle
    skipped_allowlisted: int = 0
    skipped_rejected: int = 0


def decide(
    entries: Iterable[SharedEntry],
    *,
    policy: Policy,
    blacklisted: set[str],
    allowlisted: set[str],
    completed_orders: Mapping[str, int],
    rejected: Mapping[str, str] | None = None,
) -> Decision:
    """Which shared buyers to blacklist now, which to flag for review, and which wait for the next cycle.

    `rejected` maps member ids to the name the backend refused (name mismatch, unknown buyer): the same
    entry is not retried until the hub's name for it changes.
    """
    rejected = rejected or {}
    decision = Decision()
    eligible: list[SharedEntry] = []
    for entry in entries:
        if entry.member_id in blacklisted or not passes(entry, policy):
            continue
        if entry.member_id in allowlisted:
            decision.skipped_allowlisted += 1
            continue
        if same_name(rejected.get(entry.member_id), entry.name):
            decision.skipped_rejected += 1
            continue
        orders = completed_orders.get(entry.member_id, 0)
        if policy.protect_min_orders and orders >= policy.protect_min_orders:
            decision.review.append(ReviewItem(entry, orders))
            continue
        eligible.append(entry)
    ranked = by_priority(eligible)
    decision.to_add = ranked[: policy.max_new_per_sync]
    decision.deferred = ranked[policy.max_new_per_sync :]
    decision.review = sorted(decision.review, key=lambda r: (-r.entry.score, r.entry.member_id))
    return decision


@dataclass(frozen=True, slots=True)
class Retraction:
    member_id: str
    name: str
    why: str


def retractions(
    agent_entries: Mapping[str, str], shared: Mapping[str, SharedEntry], policy: Policy
) -> list[Retraction]:
    """Entries the agent added (member id → name) whose shared entry no longer passes (docs/safety.md rule 4).

    Only agent-added entries are ever given here; manual entries are the seller's and never retracted.
    """
    out = []
    for member_id, name in sorted(agent_entries.items()):
        why = why_not(shared.get(member_id), policy)
        if why is not None:
            out.append(Retraction(member_id, name, why))
    return out


# --- decisions the executor (agent.sync.apply) carries out ------------------------------------------


def link_names(entry: SharedEntry, store_name: str | None) -> list[str]:
    """The names to try, in order, in the buyer's blacklist link.

    The link needs the name that matches the member id in this store, and the hub's name is only the
    reporters' spelling, which a careless or hostile reporter can get wrong. For a buyer who ordered here, the
    name on their latest order comes first and the hub's second, in the same cycle.
    """
    if store_name and not same_name(store_name, entry.name):
        return [store_name, entry.name]
    return [entry.name]


def origin_after_link(outcome: BlacklistOutcome) -> Origin | None:
    """Whose entry the buyer is after the agent's blacklist link got `outcome` (None: not on the list).

    "Already blacklisted" counts as the agent's: most likely its own earlier attempt that timed out after
    succeeding. Taking the seller's entry for the agent's only risks a later retraction; the reverse would
    push it to the hub as the seller's report (docs/safety.md rule 1), amplifying one report into two.
    """
    if outcome in (BlacklistOutcome.ADDED, BlacklistOutcome.ALREADY):
        return "agent"
    return None


@dataclass(frozen=True, slots=True)
class Evictable:
    """An automatic entry that could make room on a full blacklist."""

    member_id: str
    name: str
    score: int
    added_at: datetime | None


def eviction_victim(automatic: Iterable[Evictable], *, for_score: int) -> Evictable | None:
    """Which automatic entry leaves a full blacklist to make room for a candidate scoring `for_score`.

    Only automatic entries with a strictly lower score, the lowest first, then the oldest (entries of unknown
    age last), then by member id. Manual entries are never candidates: they are the seller's (docs/safety.md
    rule 3). None when nothing may make room: the agent then stops adding and says so.
    """
    lower = [e for e in automatic if e.score < for_score]
    if not lower:
        return None
    return min(lower, key=lambda e: (e.score, e.added_at is None, e.added_at, e.member_id))


def order_when_full(entries: Sequence[SharedEntry]) -> list[SharedEntry]:
    """On a full blacklist candidates go one by one, the highest priority first (see `by_priority`)."""
    return by_priority(entries)
