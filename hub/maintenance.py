"""Time-driven upkeep: the expiry sweep, operator delisting, and change-log compaction.

Expiry: reports are never rewritten when they age; instead each entry carries `next_review_at`, no later
than the first moment ageing alone changes it (a report turning stale or expiring, see `hub.scoring`; it
may be earlier, since confirmations do not rewrite it, which only costs a recompute). The sweep recomputes
the entries whose moment has passed, which appends their changes (or tombstones) to the feed like any other
change. The API runs it lazily, at most every `sweep_interval_seconds`, before serving the feed or an entry,
so readers never see an entry that should have aged; `blacklist-hub sweep` runs it by hand.

Compaction: superseded change rows are never served (the feed serves an entry's latest change only) and are
deleted. Tombstones older than `tombstone_retention_days` are purged with their dead entry rows; the highest
purged sequence number becomes the horizon, and a cursor below it gets 410 (its owner might have missed a
deletion) and re-pulls from 0.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, exists, func, select, update
from sqlalchemy.orm import Session

from hub.entries import refresh_entries
from hub.models import Change, Entry, HubState
from hub.scoring import Ageing
from hub.sql import batches, one_of

logger = logging.getLogger(__name__)


def due_for_review(session: Session, now: datetime) -> bool:
    stmt = select(exists().where(Entry.next_review_at <= now))
    return bool(session.execute(stmt).scalar())


SWEEP_BATCH = 2000


def sweep(session: Session, now: datetime, ageing: Ageing, *, batch: int = SWEEP_BATCH) -> tuple[int, bool]:
    """Recompute up to `batch` entries whose review time has come, oldest first.

    Returns (feed changes made, whether more entries are due). Batches keep each write transaction, and
    the request that triggers a lazy sweep, short.
    """
    due = select(Entry.member_id).where(Entry.next_review_at <= now).order_by(Entry.next_review_at)
    ids = list(session.execute(due.limit(batch + 1)).scalars())
    more = len(ids) > batch
    changes = refresh_entries(session, ids[:batch], now, ageing)
    session.execute(update(HubState).where(HubState.id == 1).values(last_sweep_at=now))
    if ids:
        logger.info("expiry sweep: %d entries reviewed, %d changes", len(ids[:batch]), changes)
    return changes, more


def set_delisted(session: Session, member_id: str, delisted: bool, now: datetime, ageing: Ageing) -> int:
    """Delist (tombstone, and keep it so whatever is reported) or relist a buyer; returns feed changes."""
    entry = session.get(Entry, member_id)
    if entry is None:
        if not delisted:
            return 0
        entry = Entry(member_id=member_id, name="", reporters=0, score=0, reasons={}, live=False, seq=0,
                      delisted=True, updated_at=now)  # fmt: skip
        session.add(entry)
    entry.delisted = delisted
    session.flush()
    changes = refresh_entries(session, [member_id], now, ageing)
    logger.info("entry %s %s", member_id, "delisted" if delisted else "relisted")
    return changes


@dataclass(frozen=True)
class Compaction:
    superseded: int
    tombstones: int
    horizon: int


def compact(session: Session, now: datetime, retention: timedelta) -> Compaction:
    current_seq = select(Entry.seq).where(Entry.member_id == Change.member_id).scalar_subquery()
    superseded = session.execute(
        delete(Change).where(Change.seq < current_seq).execution_options(synchronize_session=False)
    )
    old_dead = (
        Entry.live.is_(False),
        Entry.counted.is_(False),  # below the publication threshold but looked up: kept
        Entry.pending.is_(False),
        Entry.delisted.is_(False),
        Entry.updated_at < now - retention,
    )
    top = session.execute(select(func.max(Entry.seq)).where(*old_dead)).scalar()
    purged = 0
    state = session.execute(select(HubState).where(HubState.id == 1)).scalar_one()
    if top is not None:
        ids = list(session.execute(select(Entry.member_id).where(*old_dead)).scalars())
        for part in batches(session, ids):
            session.execute(
                delete(Change)
                .where(one_of(session, Change.member_id, part))
                .execution_options(synchronize_session=False)
            )
            session.execute(
                delete(Entry)
                .where(one_of(session, Entry.member_id, part))
                .execution_options(synchronize_session=False)
            )
        purged = len(ids)
        state.horizon_seq = max(state.horizon_seq, int(top))
    result = Compaction(int(getattr(superseded, "rowcount", 0) or 0), purged, state.horizon_seq)
    logger.info("compaction: %s", result)
    return result
