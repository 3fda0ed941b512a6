"""Why the seller blacklisted a buyer: the reason their report carries to the hub.

The hub knows a fixed vocabulary (`agent.hub_models.REASONS`). A buyer blacklisted through the agent
(`blacklist add --reason`, the dashboard) gets the reason the seller chose; one blacklisted by hand in the
seller center gets `sharing.default_reason` (unspecified unless the seller sets one). The reason is fixed
when the entry is first taken in and kept in the local state, so every later snapshot (`share-all`, the
weekly confirmation) sends the same reason instead of resetting it.

`reasons_warning` says when `policy.reasons` can match nothing: the filter counts only reporters who gave
an allowed reason, and sellers who give none report `unspecified`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from agent.errors import ConfigError
from agent.hub_models import REASONS
from agent.state import LocalState

DEFAULT_REASON = "unspecified"
_KEY = "own_reason:"


def check_reason(reason: str, *, key: str = "--reason") -> str:
    """The reason itself when the hub knows it, else a ConfigError naming the allowed ones."""
    if reason not in REASONS:
        raise ConfigError(f"{key}: unknown reason {reason!r}; use one of {', '.join(REASONS)}", key=key)
    return reason


def remember(state: LocalState, member_id: str, reason: str) -> None:
    """Record the reason of the seller's own entry (call inside the transaction that takes it in)."""
    state.set_meta(_KEY + member_id, None if reason == DEFAULT_REASON else reason)


def forget(state: LocalState, member_id: str) -> None:
    state.set_meta(_KEY + member_id, None)


def own_reason(state: LocalState, member_id: str) -> str:
    """The reason this seller's report on `member_id` carries (unspecified when none was recorded)."""
    reason = state.get_meta(_KEY + member_id)
    return reason if reason in REASONS else DEFAULT_REASON


def reasons_warning(
    policy_reasons: Iterable[str], default_reason: str, shared_reasons: Iterable[Mapping[str, int]]
) -> str | None:
    """A sentence when `policy.reasons` can match nothing, else None.

    `shared_reasons`: the per-reason counts of the cached shared entries. When some are cached and none
    carries an allowed reason, nothing can be added; when none are cached yet, the only hint is this
    store's own reports: going out as a reason the filter excludes means other stores with the same filter
    never count them.
    """
    allowed = set(policy_reasons)
    if not allowed:
        return None
    wanted = ", ".join(sorted(allowed))
    entries = [r for r in shared_reasons]
    if entries:
        if any(reason in allowed for counts in entries for reason, n in counts.items() if n > 0):
            return None
        found = sorted({reason for counts in entries for reason in counts})
        return (
            f"policy.reasons ({wanted}) matches none of the {len(entries)} shared entries (their reasons: "
            f"{', '.join(found) or 'none'}): nothing is blacklisted automatically. Most sellers report "
            f"without a reason (unspecified); add 'unspecified' to policy.reasons or leave it empty"
        )
    if default_reason not in allowed:
        return (
            f"policy.reasons ({wanted}) excludes '{default_reason}', the reason your own reports go out with "
            "(sharing.default_reason): stores with the same filter never count them. Give a reason "
            "(`blacklist add --reason`, sharing.default_reason) or add it to policy.reasons"
        )
    return None
