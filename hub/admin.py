"""Operator actions, shared by the `blacklist-hub` CLI and by code that embeds a hub (tests, the demo).

Each action is one write transaction; changes to entries reach the feed in that same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from hub.db import Database
from hub.feed import feed_state
from hub.maintenance import Compaction, compact, set_delisted, sweep
from hub.models import Change, Entry, Report, Seller, utcnow
from hub.publish import immediate_publisher, publish_all
from hub.scoring import Ageing
from hub.sellers import create_seller, find_seller, rotate_token, set_enabled, set_standing
from hub.settings import HubSettings


@dataclass(frozen=True)
class SellerInfo:
    id: int
    name: str
    store_id: str
    enabled: bool
    standing: float
    created_at: datetime
    reports: int


class HubAdmin:
    """Operator actions over one hub database."""

    def __init__(self, settings: HubSettings, *, now: datetime | None = None) -> None:
        self.settings = settings
        self.db = Database(settings.database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms)
        if settings.publish_interval_seconds <= 0:
            self.db.publisher = immediate_publisher(self.now, settings.publish_min_reporters)
        self._now = now
        self.ageing = Ageing(
            ttl=timedelta(days=settings.report_ttl_days),
            stale_after=timedelta(days=settings.report_stale_days),
        )

    def __enter__(self) -> HubAdmin:
        try:
            self.db.require_current_schema()
        except Exception:
            self.db.dispose()
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        self.db.dispose()

    def now(self) -> datetime:
        return self._now or utcnow()

    def add_seller(self, name: str, store_id: str) -> tuple[int, str]:
        """Returns (seller id, token)."""
        with self.db.write() as session:
            seller, token = create_seller(session, name, store_id, self.now())
            return seller.id, token

    def list_sellers(self) -> list[SellerInfo]:
        with self.db.read() as session:
            per_seller = (
                select(Report.seller_id, func.count())
                .where(Report.withdrawn_at.is_(None))
                .group_by(Report.seller_id)
            )
            counts: dict[int, int] = {row[0]: row[1] for row in session.execute(per_seller)}
            sellers = session.execute(select(Seller).order_by(Seller.id)).scalars().all()
            return [
                SellerInfo(s.id, s.name, s.store_id, s.enabled, s.standing, s.created_at, counts.get(s.id, 0))
                for s in sellers
            ]

    def set_enabled(self, name: str | None, enabled: bool, *, seller_id: int | None = None) -> int:
        """Returns the number of entries changed (published at once or in the next batch)."""
        with self.db.write() as session:
            seller = find_seller(session, name, seller_id=seller_id)
            return set_enabled(session, seller, enabled, self.now(), self.ageing)

    def set_standing(self, name: str | None, standing: float, *, seller_id: int | None = None) -> int:
        with self.db.write() as session:
            seller = find_seller(session, name, seller_id=seller_id)
            return set_standing(session, seller, standing, self.now(), self.ageing)

    def rotate_token(self, name: str | None, *, seller_id: int | None = None) -> str:
        with self.db.write() as session:
            return rotate_token(session, find_seller(session, name, seller_id=seller_id), self.now())

    def publish(self) -> int:
        """Publish every pending entry now; returns the feed changes made."""
        with self.db.write() as session:
            return publish_all(session, self.now(), self.settings.publish_min_reporters)

    def set_delisted(self, member_id: str, delisted: bool) -> int:
        with self.db.write() as session:
            return set_delisted(session, member_id, delisted, self.now(), self.ageing)

    def sweep(self) -> int:
        """Apply expiry to every due entry (in batches); returns the feed changes made."""
        total, more = 0, True
        while more:
            with self.db.write() as session:
                changes, more = sweep(session, self.now(), self.ageing)
            total += changes
        return total

    def compact(self) -> Compaction:
        with self.db.write() as session:
            return compact(session, self.now(), timedelta(days=self.settings.tombstone_retention_days))

    def stats(self) -> dict[str, Any]:
        now = self.now()
        with self.db.read() as session:
            state = feed_state(session)

            def count(*where: Any) -> int:
                return int(session.execute(select(func.count()).where(*where)).scalar_one())

            return {
                "sellers": count(Seller.id.is_not(None)),
                "sellers_enabled": count(Seller.enabled.is_(True)),
                "reports": count(Report.withdrawn_at.is_(None)),
                "reports_live": count(
                    Report.withdrawn_at.is_(None), Report.last_confirmed_at > now - self.ageing.ttl
                ),
                "entries_live": count(Entry.live.is_(True)),
                "entries_counted": count(Entry.counted.is_(True)),
                "entries_pending": count(Entry.pending.is_(True)),
                "entries_delisted": count(Entry.delisted.is_(True)),
                "changes": count(Change.seq.is_not(None)),
                "feed_last_seq": state.last_seq,
                "feed_horizon": state.horizon_seq,
            }


def add_seller(database_url: str, name: str, store_id: str) -> str:
    """Register a seller on a migrated hub database and return its bearer token."""
    with HubAdmin(HubSettings(database_url=database_url)) as admin:
        return admin.add_seller(name, store_id)[1]
