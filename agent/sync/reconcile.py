"""Step 2 of a cycle (and of share-all): take in what the seller did to the blacklist since last time.

New manual entries become reports to push, manual removals become withdrawals, any removal by the seller
(of their own entry or of an automatic one) puts that buyer on the allowlist (docs/safety.md rule 3), and
intents left pending by a crash are settled from what the store really shows (see agent.sync.diff).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from agent.hub_models import Report
from agent.models import BlacklistEntry
from agent.state import LocalState
from agent.sync import reasons
from agent.sync.diff import BlacklistDiff, diff_blacklist
from agent.sync.reasons import DEFAULT_REASON

logger = logging.getLogger(__name__)


def reconcile(
    state: LocalState, seen: Sequence[BlacklistEntry], *, reason: str = DEFAULT_REASON
) -> BlacklistDiff:
    """Record the diff between `seen` (the store now) and local state; one transaction.

    `reason`: what the reports of new manual entries say (`sharing.default_reason`, see agent.sync.reasons).
    """
    known = state.blacklist.known()
    diff = diff_blacklist(seen, known, state.intents.pending())
    with state.transaction():
        for entry in diff.new_manual:
            state.blacklist.add_manual(entry)
            reasons.remember(state, entry.member_id, reason)
            state.outbox.queue_report(Report(entry.member_id, entry.name, reason, entry.blacklisted_at))
        for gone in diff.removed_manual:
            state.blacklist.forget(gone.member_id)
            state.outbox.queue_withdrawal(gone.member_id, gone.name)
            # The seller forgave a buyer they had caught: putting them back because other stores report
            # them would overrule the seller (docs/safety.md rule 3), so they are never re-added
            # automatically either.
            state.allowlist.add(gone.member_id, gone.name, "the seller removed their own entry")
        for gone in diff.removed_by_seller:
            state.blacklist.forget(gone.member_id)
            state.allowlist.add(gone.member_id, gone.name, "the seller removed the automatic entry")
            state.audit.record("seller_removed", gone.member_id, gone.name, {"allowlisted": True})
            logger.info("seller removed automatic entry %s: allowlisted", gone.member_id)
        for intent in diff.confirmed_adds:
            if intent.member_id not in known:
                provenance = dict(intent.provenance or {})
                state.blacklist.add_automatic(
                    intent.member_id, intent.name, provenance=provenance, score=intent.score or 0
                )
                state.audit.record(
                    "add", intent.member_id, intent.name, {**provenance, "settled": "after a restart"}
                )
            state.intents.settle(intent.id, "done", "found on the blacklist after a restart")
        for intent in diff.lost_adds:
            state.intents.settle(intent.id, "abandoned", "not on the blacklist after a restart")
        for intent in diff.confirmed_removals:
            state.blacklist.forget(intent.member_id)
            provenance = dict(intent.provenance or {})
            state.audit.record(
                intent.why or "remove",
                intent.member_id,
                intent.name,
                {**provenance, "settled": "after a restart"},
            )
            state.intents.settle(intent.id, "done", "gone from the blacklist after a restart")
        for intent in diff.lost_removals:
            state.intents.settle(intent.id, "abandoned", "still on the blacklist after a restart")
    if diff.new_manual or diff.removed_manual or diff.removed_by_seller:
        logger.info(
            "blacklist changes by the seller: %d new, %d removed, %d automatic entries removed",
            len(diff.new_manual),
            len(diff.removed_manual),
            len(diff.removed_by_seller),
        )
    return diff
