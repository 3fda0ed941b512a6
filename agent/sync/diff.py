"""Compare the store's blacklist as read now with what the agent last saw, and say what happened.

The one subtle part is crash safety: before the agent adds or removes an entry it records an *intent*.
If the process died between the backend acting and the result being saved, the intent is still pending,
and the next read of the blacklist settles it. An entry that appeared with a pending "add" intent is the
agent's, not a new manual entry (otherwise it would be pushed to the hub as this seller's report,
breaking docs/safety.md rule 1); an entry that vanished with a pending "remove" intent was removed by the
agent, not by the seller (otherwise it would be allowlisted by mistake).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from agent.models import BlacklistEntry, KnownEntry, PendingIntent


@dataclass(slots=True)
class BlacklistDiff:
    new_manual: list[BlacklistEntry] = field(default_factory=list)  # → reports to push
    removed_manual: list[KnownEntry] = field(default_factory=list)  # → withdrawals
    # agent entries → allowlist (docs/safety.md rule 3)
    removed_by_seller: list[KnownEntry] = field(default_factory=list)
    confirmed_adds: list[PendingIntent] = field(default_factory=list)  # the agent's add did happen
    lost_adds: list[PendingIntent] = field(default_factory=list)  # it did not: the policy decides again
    confirmed_removals: list[PendingIntent] = field(default_factory=list)
    lost_removals: list[PendingIntent] = field(default_factory=list)

    @property
    def settled_intents(self) -> list[PendingIntent]:
        return self.confirmed_adds + self.lost_adds + self.confirmed_removals + self.lost_removals


def diff_blacklist(
    seen: Iterable[BlacklistEntry],
    known: Mapping[str, KnownEntry],
    pending: Iterable[PendingIntent] = (),
) -> BlacklistDiff:
    """What changed between `known` (local state) and `seen` (the backend now), given pending intents."""
    seen_by_id = {e.member_id: e for e in seen}
    adds: dict[str, PendingIntent] = {}
    removes: dict[str, PendingIntent] = {}
    for intent in sorted(pending, key=lambda i: i.id):
        (adds if intent.action == "add" else removes)[intent.member_id] = intent
    diff = BlacklistDiff()

    for member_id, entry in seen_by_id.items():
        if member_id in known:
            continue
        if member_id in adds:
            diff.confirmed_adds.append(adds.pop(member_id))
        else:
            diff.new_manual.append(entry)
    for member_id, known_entry in known.items():
        if member_id in seen_by_id:
            continue
        if member_id in removes:
            diff.confirmed_removals.append(removes.pop(member_id))
        elif known_entry.origin == "manual":
            diff.removed_manual.append(known_entry)
        else:
            diff.removed_by_seller.append(known_entry)
    # What is left: adds that never reached the backend (or concern entries already known), and removals
    # whose entry is still listed (not done) or was already forgotten locally (done).
    for intent in adds.values():
        if intent.member_id in seen_by_id:
            diff.confirmed_adds.append(intent)
        else:
            diff.lost_adds.append(intent)
    for intent in removes.values():
        if intent.member_id in seen_by_id:
            diff.lost_removals.append(intent)
        else:
            diff.confirmed_removals.append(intent)
    return diff
