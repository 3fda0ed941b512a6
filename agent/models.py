"""Plain data shared by the agent's layers: what the backend driver returns (no Playwright type ever leaves
agent/backend/), and the records the sync engine and the local state exchange about the store's blacklist.
They sit below both, so neither imports the other for its types."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from agent.hub_models import SharedEntry


@dataclass(frozen=True, slots=True)
class Customer:
    """A row of the store's historical-customers page."""

    member_id: str
    name: str
    country: str = ""
    orders: int = 0
    amount: float = 0.0
    last_order_at: datetime | None = None
    blacklisted: bool = False


@dataclass(frozen=True, slots=True)
class BlacklistEntry:
    """A buyer on the store's blacklist, as the backend shows it."""

    member_id: str
    name: str
    blacklisted_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Order:
    """An order of the store, as listed on the orders page."""

    order_id: str
    member_id: str
    buyer_name: str
    created_at: datetime
    status: str = ""
    amount: float = 0.0


class BlacklistOutcome(enum.StrEnum):
    """What the backend said when asked to blacklist a buyer."""

    ADDED = "added"
    ALREADY = "already_blacklisted"
    MISMATCH = "name_mismatch"  # the name does not match the member id
    UNKNOWN = "unknown_buyer"
    FULL = "blacklist_full"


class RemovalOutcome(enum.StrEnum):
    REMOVED = "removed"
    NOT_LISTED = "not_listed"


@dataclass(frozen=True, slots=True)
class BlacklistResult:
    member_id: str
    name: str
    outcome: BlacklistOutcome
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome in (BlacklistOutcome.ADDED, BlacklistOutcome.ALREADY)


Origin = Literal["manual", "agent"]
"""Who put an entry on the store's blacklist: the seller (by hand, or through the agent's own commands), or
the agent acting on the shared list."""


@dataclass(frozen=True, slots=True)
class KnownEntry:
    """A blacklist entry as local state remembers it."""

    member_id: str
    name: str
    origin: Origin


@dataclass(frozen=True, slots=True)
class PendingIntent:
    """An action the agent recorded before touching the store and has not yet seen settled."""

    id: int
    action: Literal["add", "remove"]
    member_id: str
    name: str
    why: str = ""
    provenance: Mapping[str, Any] | None = None
    score: int | None = None


@dataclass(frozen=True, slots=True)
class ReviewItem:
    """A buyer who passes the policy but is a good customer here: the seller decides, not the agent."""

    entry: SharedEntry
    completed_orders: int
