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
