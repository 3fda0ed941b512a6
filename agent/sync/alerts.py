"""Step 9: "check before shipping": new orders from buyers other stores report.

The feed carries only entries that enough stores report (the hub's `publish_min_reporters`), so a single
report elsewhere is not in the cached list. For the buyers of this store's own new orders the agent asks the
hub directly (`GET /v1/lookup`, at most 50 buyers a request and `MAX_LOOKUPS` a cycle: the hub rate-limits
it), which answers about every live entry and says whether this store reports it too. An alert is raised
only when another store reports the buyer (reporters minus our own report at least 1): a store is never
warned about its own report. When the hub cannot answer (down, rate-limiting, an older hub without the
lookup, a broken answer), the cached list is used instead, with the same rule.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from agent.errors import HubError, HubRejected
from agent.hub_client import HubClient
from agent.hub_models import SharedEntry, valid_member_id
from agent.models import Order
from agent.state import Alert, LocalState

logger = logging.getLogger(__name__)

ALERT_WINDOW = timedelta(days=7)  # only orders this recent can still be stopped before shipping
MAX_LOOKUPS = 500  # buyers asked about per cycle (10 requests); the rest is checked against the cache


@dataclass(slots=True)
class AlertCheck:
    alerts: list[Alert] = field(default_factory=list)
    looked_up: int = 0
    from_cache: int = 0  # buyers checked against the cached list instead
    problem: str | None = None  # why the hub was not asked about some buyers


def check_before_shipping(
    hub: HubClient | None,
    state: LocalState,
    new_orders: Iterable[Order],
    shared: Mapping[str, SharedEntry],
    *,
    now: datetime,
) -> AlertCheck:
    result = AlertCheck()
    orders = [o for o in new_orders if _recent(o.created_at, now)]
    buyers = list(dict.fromkeys(o.member_id for o in orders))
    own = state.reported.ids() | {m for m, k in state.blacklist.known().items() if k.origin == "manual"}
    reported: dict[str, SharedEntry] = {}
    asked: set[str] = set()
    if hub is not None and buyers:
        to_ask = [m for m in buyers if valid_member_id(m)][:MAX_LOOKUPS]
        try:
            for found in hub.lookup(to_ask):
                if found.other_reporters >= 1:
                    reported[found.entry.member_id] = found.entry
            asked = set(to_ask)
        except HubRejected as exc:
            if exc.status_code not in (404, 405):
                result.problem = str(exc)
            # 404/405: an older hub without the lookup; the cache serves.
        except HubError as exc:
            result.problem = str(exc)
    result.looked_up = len(asked)
    for member_id in buyers:
        if member_id in asked:
            continue
        result.from_cache += 1
        entry = shared.get(member_id)
        if entry is not None and entry.reporters - (1 if member_id in own else 0) >= 1:
            reported[member_id] = entry
    for order in orders:
        entry = reported.get(order.member_id)
        if entry is not None:
            alert = state.alerts.raise_for(order, entry)
            if alert is not None:
                result.alerts.append(alert)
    if result.problem:
        logger.warning("check before shipping used the cached list: %s", result.problem)
    return result


def _recent(created_at: datetime, now: datetime) -> bool:
    if created_at.tzinfo is None:
        created_at = created_at.replace(tzinfo=UTC)
    return created_at >= now - ALERT_WINDOW
