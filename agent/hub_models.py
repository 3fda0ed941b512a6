"""Plain data exchanged with the sharing hub (docs/hub-api.md), free of any HTTP library.

The policy, the local state and the sync engine work on these; only `agent.hub_client` turns them into
requests and back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

REASONS = ("fraud", "dispute_abuse", "chargeback", "non_payment", "abusive", "unspecified")


def parse_time(value: object) -> datetime | None:
    """An ISO 8601 timestamp from the hub (a trailing Z included), or None."""
    if not isinstance(value, str) or not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclass(frozen=True, slots=True)
class SharedEntry:
    """A buyer on the pooled list: counts, score and reasons only, never who reported (rule 6)."""

    member_id: str
    name: str
    reporters: int
    score: int
    reasons: Mapping[str, int] = field(default_factory=dict)
    first_reported_at: datetime | None = None
    last_reported_at: datetime | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SharedEntry:
        reasons = data.get("reasons") or {}
        return cls(
            member_id=str(data["member_id"]),
            name=str(data["name"]),
            reporters=int(data["reporters"]),
            score=int(data["score"]),
            reasons={str(k): int(v) for k, v in dict(reasons).items()},
            first_reported_at=parse_time(data.get("first_reported_at")),
            last_reported_at=parse_time(data.get("last_reported_at")),
        )

    def provenance(self) -> dict[str, Any]:
        """What the audit log keeps about the entry an automatic action was based on (rule 5)."""
        return {
            "hub_entry": self.member_id,
            "reporters": self.reporters,
            "score": self.score,
            "reasons": dict(self.reasons),
            "last_reported_at": self.last_reported_at.isoformat() if self.last_reported_at else None,
        }


@dataclass(frozen=True, slots=True)
class Report:
    """One of this seller's own reports, as pushed to the hub."""

    member_id: str
    name: str
    reason: str = "unspecified"
    reported_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"member_id": self.member_id, "name": self.name, "reason": self.reason}
        if self.reported_at is not None:
            body["reported_at"] = self.reported_at.isoformat()
        return body


@dataclass(frozen=True, slots=True)
class PushCounts:
    """The hub's answer to a push: how many of our reports it created, updated, kept or withdrew."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    withdrawn: int = 0

    def __add__(self, other: PushCounts) -> PushCounts:
        return PushCounts(
            self.created + other.created,
            self.updated + other.updated,
            self.unchanged + other.unchanged,
            self.withdrawn + other.withdrawn,
        )

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PushCounts:
        return cls(
            created=int(data.get("created", 0)),
            updated=int(data.get("updated", 0)),
            unchanged=int(data.get("unchanged", 0)),
            withdrawn=int(data.get("withdrawn", 0)),
        )


@dataclass(frozen=True, slots=True)
class FeedChange:
    """One change of the feed: a live entry, or a tombstone (`entry is None`)."""

    seq: int
    member_id: str
    entry: SharedEntry | None


@dataclass(frozen=True, slots=True)
class FeedPage:
    """One page of `GET /v1/feed`; `etag` is what to send as If-None-Match next time."""

    changes: list[FeedChange]
    next_cursor: int
    has_more: bool
    etag: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any], etag: str | None) -> FeedPage:
        changes = []
        for item in data.get("changes") or []:
            entry = None if item.get("deleted") or item.get("entry") is None else item["entry"]
            changes.append(
                FeedChange(
                    seq=int(item["seq"]),
                    member_id=str(item["member_id"]),
                    entry=SharedEntry.from_json(entry) if entry is not None else None,
                )
            )
        return cls(
            changes=changes,
            next_cursor=int(data["next_cursor"]),
            has_more=bool(data.get("has_more", False)),
            etag=etag,
        )

    def latest_per_member(self) -> dict[str, FeedChange]:
        """Only the latest change per member id inside a page matters (hub-api.md)."""
        latest: dict[str, FeedChange] = {}
        for change in sorted(self.changes, key=lambda c: c.seq):
            latest[change.member_id] = change
        return latest
