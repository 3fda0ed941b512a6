"""Recompute entries for the member ids a transaction touched, and mark the changed ones for publication.

Called inside a write transaction (`Database.write`), after the transaction changed reports, sellers or
records, so it reads the committed state of everyone else plus this transaction's own changes. The
counting reports are summed up in SQL (`GROUP BY member_id`, three queries per 500 buyers, whatever the
number of reports), then `hub.scoring.finish` turns each summary into the entry.

An entry row is rewritten only when its aggregate changed (it is then marked `pending`: `hub.publish`
allocates its sequence number and feed change later, in a batch that mixes sellers) or when its review
time must come sooner (see `_review_must_move`). `refresh_entries` never touches the published columns
(`live`, `payload`, `seq`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, exists, func, select
from sqlalchemy.orm import Session

from hub.db import PENDING_PUBLICATION
from hub.models import Entry, Report, Seller, SellerRecord, from_stored
from hub.scoring import STALE_WEIGHT, Ageing, Aggregate, Summary, earliest, finish, latest
from hub.sql import batches, one_of, upsert

logger = logging.getLogger(__name__)


def _view(agg: Aggregate | None) -> tuple[Any, ...]:
    """What readers (feed, lookup) may see of an entry; it is republished only when this differs."""
    if agg is None:
        return (False,)
    reasons = tuple(sorted(agg.reasons.items()))
    return (True, agg.name, agg.reporters, agg.weight, agg.score, reasons, agg.first_reported_at,
            agg.last_reported_at)  # fmt: skip


def _row_view(row: Any) -> tuple[Any, ...]:
    if not row.counted:
        return (False,)
    reasons = tuple(sorted((row.reasons or {}).items()))
    return (True, row.name, row.reporters, row.weight, row.score, reasons, row.first_reported_at,
            row.last_reported_at)  # fmt: skip


_ENTRIES = Entry.__table__.c
# Table columns, not ORM attributes: the rows come back through Core, without the ORM's loading layer.
_CURRENT_COLUMNS = (
    _ENTRIES.member_id,
    _ENTRIES.name,
    _ENTRIES.reporters,
    _ENTRIES.weight,
    _ENTRIES.score,
    _ENTRIES.reasons,
    _ENTRIES.first_reported_at,
    _ENTRIES.last_reported_at,
    _ENTRIES.counted,
    _ENTRIES.pending,
    _ENTRIES.delisted,
    _ENTRIES.next_review_at,
)


def counting_reports(now: datetime, ageing: Ageing) -> ColumnElement[bool]:
    """The SQL condition for a counting report (joined with its seller); see `hub.scoring`."""
    own_auto = exists().where(
        SellerRecord.seller_id == Report.seller_id,
        SellerRecord.list == "auto",
        SellerRecord.member_id == Report.member_id,
    )
    return and_(
        Report.withdrawn_at.is_(None),
        Seller.enabled.is_(True),
        Seller.standing > 0,
        Report.last_confirmed_at > now - ageing.ttl,
        ~own_auto,
    )


def summarise(
    session: Session, member_ids: Sequence[str], now: datetime, ageing: Ageing
) -> dict[str, Summary]:
    """The summary of the counting reports of each of these buyers (absent: nothing counts)."""
    where = and_(one_of(session, Report.member_id, member_ids), counting_reports(now, ageing))
    joined = Report.__table__.join(Seller.__table__, Seller.id == Report.seller_id)
    fresh = Report.last_confirmed_at > now - ageing.stale_after
    standing = Seller.standing  # 0..1, checked when the operator sets it
    # One pass over the counting reports, grouped as finely as any part of the summary needs (a buyer's
    # reports with the same reason and name), folded per buyer below: one scan of the reports instead of
    # one per grouping (SQLite has no GROUPING SETS).
    groups = (
        select(
            Report.member_id,
            Report.reason,
            Report.name,
            func.count(),
            func.sum(standing),
            func.sum(case((fresh, standing), else_=standing * STALE_WEIGHT)),
            func.min(Report.reported_at),
            func.max(Report.reported_at),
            func.min(case((fresh, Report.last_confirmed_at))),
            func.min(case((~fresh, Report.last_confirmed_at))),
            func.min(Report.id),
        )
        .select_from(joined)
        .where(where)
        .group_by(Report.member_id, Report.reason, Report.name)
    )
    summaries: dict[str, Summary] = {}
    for (
        member_id,
        reason,
        name,
        n,
        weight,
        scored,
        first,
        last,
        fresh_at,
        stale_at,
        first_id,
    ) in session.execute(groups):
        summary = summaries.get(member_id)
        if summary is None:
            summary = summaries[member_id] = Summary()
        summary.reporters += n
        summary.weight += float(weight or 0)
        summary.scored += float(scored or 0)
        summary.first_reported_at = earliest(summary.first_reported_at, _aware(first))
        summary.last_reported_at = latest(summary.last_reported_at, _aware(last))
        summary.oldest_fresh_confirmation = earliest(summary.oldest_fresh_confirmation, _aware(fresh_at))
        summary.oldest_stale_confirmation = earliest(summary.oldest_stale_confirmation, _aware(stale_at))
        summary.reasons[reason] = summary.reasons.get(reason, 0) + n
        summary.spellings.append((name, n, first_id))
    return summaries


def _aware(value: Any) -> datetime | None:
    """Aggregates bypass the column type (`hub.models.UTCDateTime`): SQLite hands back text, neither database
    a time zone (stored times are UTC)."""
    if value is None:
        return None
    return from_stored(datetime.fromisoformat(value) if isinstance(value, str) else value)


def refresh_entries(session: Session, member_ids: Iterable[str], now: datetime, ageing: Ageing) -> int:
    """Recompute the given entries; returns how many changed (now pending publication)."""
    ids = sorted(set(member_ids))
    if not ids:
        return 0
    entry_rows: list[dict[str, Any]] = []
    changed = 0
    for part in batches(session, ids):
        summaries = summarise(session, part, now, ageing)
        current_rows = select(*_CURRENT_COLUMNS).where(one_of(session, _ENTRIES.member_id, part))
        current = {r.member_id: r for r in session.execute(current_rows)}
        for member_id in part:
            old = current.get(member_id)
            delisted = bool(old.delisted) if old is not None else False
            summary = summaries.get(member_id)
            agg = finish(summary, ageing) if summary is not None and not delisted else None
            review = agg.next_review_at if agg is not None else None
            moved = _view(agg) != (_row_view(old) if old is not None else (False,))
            if not moved and not _review_must_move(review, old, now):
                continue  # nothing a reader sees changed, and the sweep will not come too late
            changed += moved
            pending = moved or (old is not None and bool(old.pending))
            entry_rows.append(_entry_row(member_id, agg, old, delisted, pending, review, now))
    upsert(session, Entry, ["member_id"], _REFRESHED, entry_rows)
    if changed:
        session.info[PENDING_PUBLICATION] = True
    logger.debug("refreshed %d entries, %d changed", len(ids), changed)
    return changed


_REFRESHED = ("name", "reporters", "weight", "score", "reasons", "first_reported_at", "last_reported_at",
              "counted", "pending", "next_review_at", "updated_at")  # fmt: skip


def _review_must_move(review: datetime | None, old: Any, now: datetime) -> bool:
    """Whether the stored review time must be rewritten although readers see no change.

    Every confirmation pushes an entry's review time back; rewriting the row each time would make a
    re-sent snapshot rewrite every entry, so a later review time is stored only once the old one has
    passed (the sweep then finds the entry unchanged and moves its review time on). An earlier one is
    stored at once: the sweep must never come late.
    """
    if old is None:
        return False
    if old.next_review_at is not None and old.next_review_at <= now:
        return bool(review != old.next_review_at)
    return review is not None and (old.next_review_at is None or review < old.next_review_at)


def _entry_row(
    member_id: str,
    agg: Aggregate | None,
    old: Any,
    delisted: bool,
    pending: bool,
    review: datetime | None,
    now: datetime,
) -> dict[str, Any]:
    """Every column of the entry; a dead entry keeps its last name and dates (never served)."""
    source: Any = agg if agg is not None else old
    return {
        "member_id": member_id,
        "name": source.name if source is not None else "",
        "reporters": agg.reporters if agg is not None else 0,
        "weight": agg.weight if agg is not None else 0.0,
        "score": agg.score if agg is not None else 0,
        "reasons": agg.reasons if agg is not None else {},
        "first_reported_at": source.first_reported_at if source is not None else None,
        "last_reported_at": source.last_reported_at if source is not None else None,
        "counted": agg is not None,
        "pending": pending,
        "live": False,  # on insert only: publication decides
        "delisted": delisted,
        "seq": 0,
        "next_review_at": review,
        "updated_at": now,
        "payload": None,
    }
