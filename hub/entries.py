"""Recompute entries for the member ids a transaction touched, and append their changes to the log.

Called inside a write transaction (`Database.write`), after the transaction changed reports or sellers, so
it reads the committed state of everyone else plus this transaction's own changes, and holds the write lock
(see `hub.db`): sequence numbers are allocated from `hub_state.last_seq` here and become visible in commit
order. An entry gets a change row only when what the feed shows actually changed (new, changed, or gone:
a tombstone); an entry row is rewritten only for such a change or when its review time must come
sooner (see `_review_must_move`).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from hub.feed import render_entry
from hub.models import Change, Entry, HubState, Report, Seller
from hub.scoring import Ageing, Aggregate, ReportFacts, aggregate
from hub.sql import upsert

logger = logging.getLogger(__name__)

CHUNK = 500


def chunks(items: Sequence[str], size: int = CHUNK) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _view(agg: Aggregate) -> tuple[Any, ...]:
    """What a feed reader sees of an entry; a change is recorded only when this differs."""
    reasons = tuple(sorted(agg.reasons.items()))
    return (agg.name, agg.reporters, agg.score, reasons, agg.first_reported_at, agg.last_reported_at)


def _row_view(row: Any) -> tuple[Any, ...]:
    reasons = tuple(sorted((row.reasons or {}).items()))
    return (row.name, row.reporters, row.score, reasons, row.first_reported_at, row.last_reported_at)


_CURRENT_COLUMNS = (
    Entry.member_id,
    Entry.name,
    Entry.reporters,
    Entry.score,
    Entry.reasons,
    Entry.first_reported_at,
    Entry.last_reported_at,
    Entry.live,
    Entry.delisted,
    Entry.seq,
    Entry.next_review_at,
)


def _load_facts(session: Session, member_ids: Sequence[str]) -> dict[str, list[ReportFacts]]:
    facts: dict[str, list[ReportFacts]] = defaultdict(list)
    stmt = (
        select(
            Report.id,
            Report.member_id,
            Report.name,
            Report.reason,
            Report.reported_at,
            Report.last_confirmed_at,
            Seller.enabled,
            Seller.standing,
        )
        .join(Seller, Seller.id == Report.seller_id)
        .where(Report.member_id.in_(member_ids), Report.withdrawn_at.is_(None), Seller.enabled.is_(True))
    )
    for row in session.execute(stmt):
        facts[row.member_id].append(
            ReportFacts(
                name=row.name,
                reason=row.reason,
                reported_at=row.reported_at,
                last_confirmed_at=row.last_confirmed_at,
                seller_enabled=row.enabled,
                standing=row.standing,
                order=row.id,
            )
        )
    return facts


def refresh_entries(session: Session, member_ids: Iterable[str], now: datetime, ageing: Ageing) -> int:
    """Recompute the given entries; returns how many changes were appended to the log."""
    ids = sorted(set(member_ids))
    if not ids:
        return 0
    seq = session.execute(select(HubState.last_seq).where(HubState.id == 1)).scalar_one()
    entry_rows: list[dict[str, Any]] = []
    change_rows: list[dict[str, Any]] = []
    for part in chunks(ids):
        facts = _load_facts(session, part)
        current = {
            r.member_id: r
            for r in session.execute(select(*_CURRENT_COLUMNS).where(Entry.member_id.in_(part)))
        }
        for member_id in part:
            agg = aggregate(facts.get(member_id, ()), now, ageing)
            old = current.get(member_id)
            delisted = bool(old.delisted) if old is not None else False
            live = agg is not None and not delisted
            review = agg.next_review_at if agg is not None and not delisted else None
            kind: str | None = None
            if live and (old is None or not old.live):
                kind = "new"
            elif live and old is not None and agg is not None and _row_view(old) != _view(agg):
                kind = "changed"
            elif not live and old is not None and old.live:
                kind = "deleted"
            if kind is None and not _review_must_move(review, old, now):
                continue  # nothing a reader sees changed, and the sweep will not come too late
            if kind is not None:
                seq += 1
                change_rows.append({"seq": seq, "member_id": member_id, "kind": kind, "changed_at": now})
            entry_rows.append(
                _entry_row(member_id, agg, old, live, delisted, review, seq if kind else None, now)
            )
    if entry_rows:
        columns = list(entry_rows[0])
        stmt = upsert(session, Entry, ["member_id"], update=[c for c in columns if c != "member_id"])
        session.execute(stmt, entry_rows)
    if change_rows:
        session.execute(insert(Change), change_rows)
        session.execute(update(HubState).where(HubState.id == 1).values(last_seq=seq))
    logger.debug("refreshed %d entries, %d changes", len(ids), len(change_rows))
    return len(change_rows)


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
    live: bool,
    delisted: bool,
    review: datetime | None,
    seq: int | None,
    now: datetime,
) -> dict[str, Any]:
    """Every column of the entry; a dead entry keeps its last name and dates (never served)."""
    source: Any = agg if agg is not None else old
    payload = None
    if live and agg is not None:
        payload = render_entry(
            member_id,
            agg.name,
            agg.reporters,
            agg.score,
            agg.reasons,
            agg.first_reported_at,
            agg.last_reported_at,
        )
    return {
        "member_id": member_id,
        "name": source.name if source is not None else "",
        "reporters": agg.reporters if agg is not None else 0,
        "score": agg.score if agg is not None else 0,
        "reasons": agg.reasons if agg is not None else {},
        "first_reported_at": source.first_reported_at if source is not None else None,
        "last_reported_at": source.last_reported_at if source is not None else None,
        "live": live,
        "delisted": delisted,
        "seq": seq if seq is not None else (old.seq if old is not None else 0),
        "next_review_at": review,
        "updated_at": now,
        "payload": payload,
    }
