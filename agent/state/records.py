"""Rows of the local state as plain, frozen data (what `status`, `audit` and reports show)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from agent.hub_models import Report


@dataclass(frozen=True, slots=True)
class AgentEntry:
    """A blacklist entry the agent added, with the shared entry it was based on."""

    member_id: str
    name: str
    score: int
    provenance: dict[str, Any]
    added_at: datetime | None


@dataclass(frozen=True, slots=True)
class BlacklistRow:
    """An entry of the store's blacklist as the agent last saw it, with its origin (the dashboard's list)."""

    member_id: str
    name: str
    origin: str  # "manual" (the seller's) or "agent"
    blacklisted_at: datetime | None
    added_at: datetime | None  # when the agent added it (agent entries)
    score: int | None
    provenance: dict[str, Any]


@dataclass(frozen=True, slots=True)
class OutboxItem:
    member_id: str
    action: Literal["report", "withdraw"]
    name: str
    reason: str
    reported_at: datetime | None
    attempts: int
    last_error: str | None

    def as_report(self) -> Report:
        return Report(self.member_id, self.name, self.reason, self.reported_at)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    id: int
    at: datetime
    action: str
    member_id: str
    name: str | None
    details: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Alert:
    """An order from a buyer on the pooled list (even below the threshold): check before shipping."""

    order_id: str
    member_id: str
    name: str
    order_created_at: datetime
    reporters: int
    score: int
    reasons: dict[str, int]


@dataclass(frozen=True, slots=True)
class ReviewRecord:
    """A good customer who passes the policy: the seller decides."""

    member_id: str
    name: str
    reporters: int
    score: int
    reasons: dict[str, int]
    completed_orders: int
    flagged_at: datetime


@dataclass(frozen=True, slots=True)
class CycleRecord:
    id: int
    kind: str
    started_at: datetime
    finished_at: datetime | None
    outcome: str | None
    report: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class AllowlistEntry:
    """A buyer the agent must never blacklist automatically (the seller said so, or undid the agent)."""

    member_id: str
    name: str | None
    reason: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class FeedCursor:
    """Where this agent stands in the hub's feed.

    `position` is the hub's opaque cursor (0: nothing pulled yet), `etag` the validator of the last page,
    `generation` tags the shared entries a full pull has seen, `full_pull` says one is under way (until it
    completes, entries it has not seen again are kept), and `pulled` whether a complete pull ever finished
    (the policy acts only on a list pulled whole at least once).
    """

    position: int = 0
    etag: str | None = None
    generation: int = 0
    full_pull: bool = False
    pulled: bool = False
