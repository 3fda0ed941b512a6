"""`GET /v1/lookup`: the entries of a few buyers, published in the feed or not ("check before shipping").

The feed carries only entries with `publish_min_reporters` counting reporters, so one seller's list is not
handed to everyone. A seller about to ship to a buyer asks about that buyer instead: the answer is the
entry as it stands now (at least one counting report, not delisted), and whether the caller's own report
is one of the counting ones, so the agent alerts only when *other* stores report the buyer. The route is
limited per seller (one token per member id asked about), which keeps it a check, not a way to page
through the hub.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from hub.entries import counting_reports
from hub.models import Entry, Report, Seller
from hub.schemas import LookupEntry
from hub.scoring import Ageing


def lookup_entries(
    session: Session, seller_id: int, member_ids: Sequence[str], now: datetime, ageing: Ageing
) -> list[LookupEntry]:
    """The current entries of these buyers that have a counting report, in member id order."""
    rows = session.execute(
        select(
            Entry.member_id,
            Entry.name,
            Entry.reporters,
            Entry.weight,
            Entry.score,
            Entry.reasons,
            Entry.first_reported_at,
            Entry.last_reported_at,
        )
        .where(Entry.member_id.in_(member_ids), Entry.counted.is_(True), Entry.delisted.is_(False))
        .order_by(Entry.member_id)
    ).all()
    if not rows:
        return []
    own = set(
        session.execute(
            select(Report.member_id)
            .join(Seller, Seller.id == Report.seller_id)
            .where(
                and_(
                    Report.seller_id == seller_id,
                    Report.member_id.in_([r.member_id for r in rows]),
                    counting_reports(now, ageing),
                )
            )
        ).scalars()
    )
    return [
        LookupEntry(
            member_id=r.member_id,
            name=r.name,
            reporters=r.reporters,
            weight=r.weight,
            score=r.score,
            reasons=dict(sorted((r.reasons or {}).items())),
            first_reported_at=r.first_reported_at,
            last_reported_at=r.last_reported_at,
            own_report=r.member_id in own,
        )
        for r in rows
    ]
