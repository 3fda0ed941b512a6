"""Plain data exchanged with the sharing hub (docs/hub-api.md), free of any HTTP library.

The policy, the local state and the sync engine work on these; only `agent.hub_client` turns them into
requests and back. Everything read from the hub is checked here (docs/safety.md, "A hostile or broken
hub"): a field of the wrong type, a bad timestamp, an id the hub would never accept or a
name past `MAX_NAME_LENGTH` is a `MalformedAnswer`, never a crash further down. A feed page keeps the
changes it could read and lists the ones it skipped, so one bad entry never blocks the others.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

REASONS = ("fraud", "dispute_abuse", "chargeback", "non_payment", "abusive", "unspecified")

MEMBER_ID = re.compile(r"[0-9A-Za-z_-]{1,32}")
"""What a marketplace member id looks like; the hub refuses any other (and so never serves one)."""
MAX_NAME_LENGTH = 256  # the hub keeps at most 128 characters; a longer name is a broken hub
MAX_REASONS = 32
MAX_COUNT = 10_000_000  # more reporters than any community has stores: a broken hub


class MalformedAnswer(ValueError):
    """Something the hub sent does not have the shape the API promises (the message says what)."""


def valid_member_id(value: object) -> bool:
    """Whether `value` is a member id the hub accepts (so it is safe in a path and worth queueing)."""
    return isinstance(value, str) and MEMBER_ID.fullmatch(value) is not None


def parse_time(value: object) -> datetime | None:
    """An ISO 8601 timestamp from the hub (a trailing Z included), or None when absent."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 64:
        raise MalformedAnswer(f"not a timestamp: {_show(value)}")
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise MalformedAnswer(f"not a timestamp: {_show(value)}") from None


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _int(data: Mapping[str, Any], key: str, *, default: int | None = None) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COUNT:
        raise MalformedAnswer(f"{key} is not a count: {_show(value)}")
    return value


def _member_id(value: object) -> str:
    if not valid_member_id(value):
        raise MalformedAnswer(f"member_id is not a member id: {_show(value)}")
    assert isinstance(value, str)
    return value


def _name(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise MalformedAnswer(f"name is not a name: {_show(value)}")
    if len(value) > MAX_NAME_LENGTH:
        raise MalformedAnswer(f"name is {len(value)} characters long (at most {MAX_NAME_LENGTH})")
    if any(ord(c) < 32 or 127 <= ord(c) < 160 for c in value):
        raise MalformedAnswer("name contains a control character")
    return value


def _weight(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise MalformedAnswer(f"weight is not a number: {_show(value)}")
    return float(value)


def _reasons(value: object) -> dict[str, int]:
    if value is None:
        return {}
    if not isinstance(value, dict) or len(value) > MAX_REASONS:
        raise MalformedAnswer(f"reasons is not a small mapping: {_show(value)}")
    return {_reason(k): _int(value, k) for k in value}


def _reason(key: object) -> str:
    if not isinstance(key, str) or len(key) > 64:
        raise MalformedAnswer(f"reason is not a reason: {_show(key)}")
    return key


def _object(value: object, what: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise MalformedAnswer(f"{what} is not an object: {_show(value)}")
    return value


@dataclass(frozen=True, slots=True)
class SharedEntry:
    """A buyer on the pooled list: counts, score and reasons only, never who reported.

    docs/safety.md rule 6.
    """

    member_id: str
    name: str
    reporters: int
    score: int
    reasons: Mapping[str, int] = field(default_factory=dict)
    first_reported_at: datetime | None = None
    last_reported_at: datetime | None = None
    weight: float | None = None  # sum of the counting reporters' standings; None from hubs without it

    @classmethod
    def from_json(cls, data: object) -> SharedEntry:
        """Read one entry; MalformedAnswer names the first field that is wrong."""
        entry = _object(data, "entry")
        return cls(
            member_id=_member_id(entry.get("member_id")),
            name=_name(entry.get("name")),
            reporters=_int(entry, "reporters"),
            score=_int(entry, "score", default=0),
            reasons=_reasons(entry.get("reasons")),
            first_reported_at=parse_time(entry.get("first_reported_at")),
            last_reported_at=parse_time(entry.get("last_reported_at")),
            weight=_weight(entry.get("weight")),
        )

    @property
    def standing(self) -> float:
        """How much the reporters count: `weight` when the hub sends it, else one per reporter."""
        return float(self.reporters) if self.weight is None else self.weight

    def provenance(self) -> dict[str, Any]:
        """What the audit log keeps about the entry an automatic action was based on.

        docs/safety.md rule 5.
        """
        return {
            "hub_entry": self.member_id,
            "reporters": self.reporters,
            "score": self.score,
            "reasons": dict(self.reasons),
            **({"weight": self.weight} if self.weight is not None else {}),
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
    def from_json(cls, data: object) -> PushCounts:
        counts = _object(data, "push answer")
        return cls(
            created=_int(counts, "created", default=0),
            updated=_int(counts, "updated", default=0),
            unchanged=_int(counts, "unchanged", default=0),
            withdrawn=_int(counts, "withdrawn", default=0),
        )


@dataclass(frozen=True, slots=True)
class FeedChange:
    """One change of the feed: a live entry, or a tombstone (`entry is None`)."""

    seq: int
    member_id: str
    entry: SharedEntry | None


@dataclass(frozen=True, slots=True)
class FeedPage:
    """One page of `GET /v1/feed`; `etag` is what to send as If-None-Match next time.

    `skipped` says which changes could not be read (and why): they are left out, the rest is used.
    """

    changes: list[FeedChange]
    next_cursor: int
    has_more: bool
    etag: str | None = None
    skipped: list[str] = field(default_factory=list)

    @classmethod
    def from_json(cls, data: object, etag: str | None, *, max_changes: int = 10_000) -> FeedPage:
        """Read a page; MalformedAnswer when the page itself is unreadable (no cursor, not an object)."""
        page = _object(data, "feed page")
        next_cursor = _int(page, "next_cursor")
        has_more = page.get("has_more", False)
        if not isinstance(has_more, bool):
            raise MalformedAnswer(f"has_more is not true or false: {_show(has_more)}")
        items = page.get("changes")
        if items is None:
            items = []
        if not isinstance(items, list):
            raise MalformedAnswer(f"changes is not a list: {_show(items)}")
        if len(items) > max_changes:
            raise MalformedAnswer(f"{len(items)} changes in one page (asked for at most {max_changes})")
        changes: list[FeedChange] = []
        skipped: list[str] = []
        for index, item in enumerate(items):
            try:
                changes.append(_change(item))
            except MalformedAnswer as exc:
                skipped.append(f"changes[{index}]: {exc}")
        return cls(changes=changes, next_cursor=next_cursor, has_more=has_more, etag=etag, skipped=skipped)

    def latest_per_member(self) -> dict[str, FeedChange]:
        """Only the latest change per member id inside a page matters (hub-api.md)."""
        latest: dict[str, FeedChange] = {}
        for change in sorted(self.changes, key=lambda c: c.seq):
            latest[change.member_id] = change
        return latest


def _change(item: object) -> FeedChange:
    change = _object(item, "change")
    member_id = _member_id(change.get("member_id"))
    deleted = change.get("deleted", False)
    if not isinstance(deleted, bool):
        raise MalformedAnswer(f"deleted is not true or false: {_show(deleted)}")
    raw = change.get("entry")
    entry = None if deleted or raw is None else SharedEntry.from_json(raw)
    if entry is not None and entry.member_id != member_id:
        raise MalformedAnswer(f"entry of {entry.member_id} filed under {member_id}")
    return FeedChange(seq=_int(change, "seq"), member_id=member_id, entry=entry)


@dataclass(frozen=True, slots=True)
class LookupEntry:
    """One answer of `GET /v1/lookup`: the entry (published or not) and whether we report it ourselves."""

    entry: SharedEntry
    own_report: bool

    @classmethod
    def from_json(cls, data: object) -> LookupEntry:
        item = _object(data, "lookup entry")
        own = item.get("own_report", False)
        if not isinstance(own, bool):
            raise MalformedAnswer(f"own_report is not true or false: {_show(own)}")
        return cls(SharedEntry.from_json(item), own)

    @property
    def other_reporters(self) -> int:
        """Reporters other than this store (the alert's condition: at least one)."""
        return self.entry.reporters - (1 if self.own_report else 0)


RecordList = str  # "auto" | "allow"


@dataclass(frozen=True, slots=True)
class RecordChange:
    """One change of this seller's private record on the hub (`POST /v1/me/record`)."""

    list: RecordList
    op: str  # "add" | "remove"
    member_id: str
    name: str | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"list": self.list, "op": self.op, "member_id": self.member_id}
        if self.name is not None:
            body["name"] = self.name
        return body


@dataclass(frozen=True, slots=True)
class PrivateRecord:
    """`GET /v1/me/record`: what this seller's agents added automatically (id → name), and its allowlist.

    Unreadable items are left out and listed in `skipped`.
    """

    auto: dict[str, str]
    allow: set[str]
    skipped: list[str] = field(default_factory=list)

    @classmethod
    def from_json(cls, data: object, *, max_items: int = 1_000_000) -> PrivateRecord:
        record = _object(data, "record")
        auto: dict[str, str] = {}
        allow: set[str] = set()
        skipped: list[str] = []
        for key in ("auto", "allow"):
            items = record.get(key) or []
            if not isinstance(items, list):
                raise MalformedAnswer(f"{key} is not a list: {_show(items)}")
            if len(items) > max_items:
                raise MalformedAnswer(f"{len(items)} items in {key} (at most {max_items})")
            for index, item in enumerate(items):
                try:
                    obj = _object(item, f"{key} item")
                    member_id = _member_id(obj.get("member_id"))
                    if key == "auto":
                        auto[member_id] = _name(obj.get("name"))
                    else:
                        allow.add(member_id)
                except MalformedAnswer as exc:
                    skipped.append(f"{key}[{index}]: {exc}")
        return cls(auto, allow, skipped)
