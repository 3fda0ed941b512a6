"""The hub's tables, as SQLAlchemy 2 typed models.

- `sellers`: stores allowed to report; only a SHA-256 hash of each token is kept.
- `reports`: one row per (seller, member id); withdrawing keeps the row with `withdrawn_at` set, so a
  re-report is recognised (and counted against the quota again).
- `entries`: the per-buyer aggregate. Its aggregate columns (`name` ... `weight`, `counted`) are current;
  `live`, `payload` and `seq` are the entry as last published in the feed; `pending` marks an entry whose
  aggregate changed since (see `hub.publish`).
- `changes`: the append-only change log (one row per entry change); see `hub.entries` for how sequence
  numbers are allocated and `hub.feed` for how it is served.
- `seller_records`: per seller and private to it: what its agent added automatically (`auto`) and its
  allowlist (`allow`), so a reinstalled agent neither amplifies nor forgets.
- `seller_usage`: per seller and UTC day, how much of the daily budget of new reports it used.
- `hub_state`: a single row holding the last allocated sequence number, the compaction horizon and the
  sellers' version; its row lock serialises every write transaction (see `hub.db.lock_for_write`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

REASONS = ("fraud", "dispute_abuse", "chargeback", "non_payment", "abusive", "unspecified")


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC (SQLite has no time zones) and always hands back aware UTC datetimes."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else to_stored(value)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else from_stored(value)


def to_stored(value: datetime) -> datetime:
    """A time as the hub stores it: naive UTC (an aware time is converted; a naive one is taken as UTC)."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None)


def from_stored(value: datetime) -> datetime:
    """A stored (naive UTC) time, made aware."""
    return value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    pass


class Seller(Base):
    __tablename__ = "sellers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    store_id: Mapped[str] = mapped_column(String(100), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    standing: Mapped[float] = mapped_column(Float, default=1.0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    token_rotated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    first_snapshot_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Report(Base):
    __tablename__ = "reports"
    __table_args__ = (
        UniqueConstraint("seller_id", "member_id", name="uq_reports_seller_member"),
        Index("ix_reports_member_id", "member_id"),
        Index("ix_reports_seller_filed", "seller_id", "filed_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seller_id: Mapped[int] = mapped_column(ForeignKey("sellers.id", ondelete="CASCADE"))
    member_id: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(String(500), nullable=True)
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_confirmed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # When this incarnation of the report was filed (creation, or re-report after a withdrawal):
    # the daily quota of new reports counts these.
    filed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Entry(Base):
    __tablename__ = "entries"
    __table_args__ = (
        Index("ix_entries_next_review_at", "next_review_at"),
        Index("ix_entries_pending", "pending"),
    )

    member_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), default="")
    reporters: Mapped[int] = mapped_column(Integer, default=0)
    score: Mapped[int] = mapped_column(Integer, default=0)
    # Sum of the standings of the counting reporters (standing 1 each: equal to `reporters`).
    weight: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    reasons: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    first_reported_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_reported_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # At least one counting report and not delisted: what `GET /v1/lookup` answers about.
    counted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # In the feed as last published (enough counting reporters at that publication).
    live: Mapped[bool] = mapped_column(Boolean, default=False)
    # The aggregate changed since the last publication.
    pending: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    delisted: Mapped[bool] = mapped_column(Boolean, default=False)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    # The earliest time at which report ageing alone changes this entry (a report turns stale or
    # expires); the expiry sweep recomputes entries whose time has come.
    next_review_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The entry as the API shows it, rendered to JSON when it changes: the feed is read far more often
    # than written, so pages are assembled from these fragments instead of re-encoding every field.
    payload: Mapped[str | None] = mapped_column(Text, nullable=True)


RECORD_LISTS = ("auto", "allow")


class SellerRecord(Base):
    __tablename__ = "seller_records"

    seller_id: Mapped[int] = mapped_column(ForeignKey("sellers.id", ondelete="CASCADE"), primary_key=True)
    list: Mapped[str] = mapped_column(String(8), primary_key=True)  # auto | allow
    member_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(128), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SellerUsage(Base):
    __tablename__ = "seller_usage"

    seller_id: Mapped[int] = mapped_column(ForeignKey("sellers.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    new_reports: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class Change(Base):
    __tablename__ = "changes"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    member_id: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(8))  # new | changed | deleted
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class HubState(Base):
    __tablename__ = "hub_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    # Tombstones at or below this sequence number were purged: cursors 0 < c < horizon get 410.
    horizon_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    last_sweep_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Bumped by every write transaction that changes a seller (`hub.db.Database.write`), so each process's
    # token cache (`hub.auth_cache`) learns that a seller was disabled or its token rotated.
    sellers_version: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


def utcnow() -> datetime:
    return datetime.now(UTC)
