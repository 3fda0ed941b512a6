"""The API's request and response bodies (the contract in docs/hub-api.md) and input validation.

Validation is strict because reports come from many parties: member ids match `^[0-9A-Za-z_-]{1,32}$`;
names are 1-128 characters, kept exactly as spelled (the marketplace's spelling: never NFC-rewritten;
comparisons normalise, see `hub.scoring.name_key`) and refused when they hold a character that can make two
names look alike or hide text: control (Cc), format (Cf: bidi controls, zero-width characters), private-use
(Co), unassigned (Cn) code points, lone surrogates (Cs) or noncharacters, or when they are only whitespace;
notes are NFC-normalised, ≤ 500 characters with no control characters but newlines and tabs; reasons come
from a fixed set, dates are ISO 8601 strings. The OpenAPI schema states the same rules (patterns, in
part), so property-based tests generate mostly what the hub accepts.
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from hub.models import REASONS

MEMBER_ID_PATTERN = r"^[0-9A-Za-z_-]{1,32}$"
MAX_POST_REPORTS = 1000
MAX_SNAPSHOT_REPORTS = 10000

Reason = Literal["fraud", "dispute_abuse", "chargeback", "non_payment", "abusive", "unspecified"]
assert set(REASONS) == set(Reason.__args__)  # type: ignore[attr-defined]

NOTE_ALLOWED_CONTROLS = frozenset("\n\t")


def _clean_text(value: object, *, allowed: frozenset[str] = frozenset()) -> object:
    if not isinstance(value, str):
        return value
    if value.isprintable():  # no "Other" (C*) character: the check below passes (in C, 50x faster)
        return unicodedata.normalize("NFC", value)
    for char in value:
        category = unicodedata.category(char)
        if char not in allowed and category in ("Cc", "Cs"):
            raise ValueError(f"contains a control character (U+{ord(char):04X})")
    return unicodedata.normalize("NFC", value)


_NAME_REFUSED = {
    "Cc": "a control character",
    "Cf": "a format character (bidi control, zero-width or other invisible character)",
    "Co": "a private-use character",
    "Cn": "an unassigned code point",
    "Cs": "a lone surrogate",
}


def is_noncharacter(char: str) -> bool:
    code = ord(char)
    return 0xFDD0 <= code <= 0xFDEF or (code & 0xFFFE) == 0xFFFE


def _clean_name(value: object) -> object:
    """Refuse names that could impersonate or veto another spelling; keep the rest exactly as sent."""
    if not isinstance(value, str):
        return value
    # `str.isprintable` is false for every "Other" character (Cc, Cf, Cs, Co, Cn, noncharacters among them)
    # and for separators but the space: a printable name passes the loop below, checked in C.
    for char in "" if value.isprintable() else value:
        if is_noncharacter(char):  # before the category: noncharacters are also "unassigned" (Cn)
            raise ValueError(f"contains a noncharacter (U+{ord(char):04X})")
        category = unicodedata.category(char)
        if category in _NAME_REFUSED:
            raise ValueError(f"contains {_NAME_REFUSED[category]} (U+{ord(char):04X})")
    if value and value.isspace():
        raise ValueError("is only whitespace")
    return value


def _clean_note(value: object) -> object:
    return _clean_text(value, allowed=NOTE_ALLOWED_CONTROLS)


def _iso_string(value: object) -> object:
    if value is not None and not isinstance(value, str | datetime):
        raise ValueError("must be an ISO 8601 date-time string")
    return value


def _as_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:  # e.g. year 9999 at UTC-23:59
        raise ValueError("date out of range") from None


MemberId = Annotated[str, StringConstraints(pattern=MEMBER_ID_PATTERN)]
# The validators do the checking (NFC first); these patterns tell API clients and schema-driven tests.
NAME_SCHEMA_PATTERN = "^[^\\x00-\\x1f\\x7f-\\x9f\\u200b-\\u200f\\u202a-\\u202e\\u2060-\\u206f\\ufeff]*$"
NOTE_SCHEMA_PATTERN = "^[^\\x00-\\x08\\x0b-\\x1f\\x7f-\\x9f]*$"
Name = Annotated[
    str,
    BeforeValidator(_clean_name),
    StringConstraints(min_length=1, max_length=128),
    Field(json_schema_extra={"pattern": NAME_SCHEMA_PATTERN}),
]
Note = Annotated[
    str,
    BeforeValidator(_clean_note),
    StringConstraints(max_length=500),
    Field(json_schema_extra={"pattern": NOTE_SCHEMA_PATTERN}),
]


class ReportIn(BaseModel):
    """One of the caller's reports about a buyer."""

    model_config = ConfigDict(extra="forbid")

    member_id: MemberId
    name: Name
    reason: Reason = "unspecified"
    note: Note | None = None
    reported_at: Annotated[datetime | None, BeforeValidator(_iso_string), AfterValidator(_as_utc)] = Field(
        default=None, description="When the seller blacklisted the buyer; the hub's time when omitted."
    )


class ReportBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reports: Annotated[list[ReportIn], Field(min_length=1, max_length=MAX_POST_REPORTS)]


class ReportSnapshot(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reports: Annotated[list[ReportIn], Field(max_length=MAX_SNAPSHOT_REPORTS)]


class UpsertResult(BaseModel):
    created: int
    updated: int
    unchanged: int


class SnapshotResult(UpsertResult):
    withdrawn: int


class Withdrawn(BaseModel):
    withdrawn: bool


class EntryOut(BaseModel):
    """The pooled view of one buyer; never says who reported it."""

    member_id: str
    name: str
    reporters: int
    score: int = Field(ge=0, le=100)
    reasons: dict[str, int]
    first_reported_at: datetime = Field(description="Midnight UTC of the day of the earliest report.")
    last_reported_at: datetime = Field(description="Midnight UTC of the day of the latest report.")
    weight: float = Field(
        default=0.0, ge=0, description="Sum of the counting reporters' standings (0..1 each)."
    )


class LookupEntry(EntryOut):
    own_report: bool = Field(description="Whether the caller's own report is among the counting ones.")


class LookupResult(BaseModel):
    entries: list[LookupEntry]


RecordList = Literal["auto", "allow"]


class RecordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    list: RecordList
    op: Literal["add", "remove"]
    member_id: MemberId
    name: Name | None = None


class RecordChanges(BaseModel):
    model_config = ConfigDict(extra="forbid")

    changes: Annotated[list[RecordChange], Field(min_length=1, max_length=500)]


class RecordApplied(BaseModel):
    applied: int


class AutoItem(BaseModel):
    member_id: str
    name: str | None = None


class AllowItem(BaseModel):
    member_id: str


class RecordOut(BaseModel):
    auto: list[AutoItem]
    allow: list[AllowItem]


class FeedChange(BaseModel):
    seq: int
    member_id: str
    deleted: bool
    entry: EntryOut | None


class FeedPage(BaseModel):
    changes: list[FeedChange]
    next_cursor: int
    has_more: bool


class Quota(BaseModel):
    daily_new_reports: int
    used_today: int
    remaining_today: int
    first_snapshot_allowance: int = Field(
        description="New reports the seller's first snapshot (PUT) may carry; 0 once used."
    )


class Me(BaseModel):
    name: str
    store_id: str
    reports: int
    live_reports: int
    quota: Quota
    standing: float = Field(ge=0, le=1)


class Health(BaseModel):
    status: str
    database: str


class ErrorOut(BaseModel):
    detail: str
