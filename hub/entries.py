"""Recompute entries for the member ids a transaction touched, and append their changes to the log.

Called inside a write transaction (`Database.write`), after the transaction changed reports or sellers, so
it reads the committed state of everyone else plus this transaction's own changes, and holds the write lock
(see `hub.db`): sequence numbers are allocated from `hub_state.last_seq` here and become visible in commit
order. An entry gets a change row only when what the feed shows actually changed (new, changed, or gone:
a tombstone); bookkeeping-only updates (`next_review_at`) do not.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
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


@dataclass(frozen=True)
class _Current:
    live: bool
    delisted: bool
    view: tuple[Any, ...]


def _view(agg: Aggregate) -> tuple[Any, ...]:
    """What a feed reader sees of an entry; a change is recorded only when this differs."""
    return (
        agg.name,
        agg.reporters,
        agg.score,
        tuple(sorted(agg.reasons.items())),
        agg.first_reported_at,
        agg.last_reported_at,
    )


def _entry_view(entry: Entry) -> tuple[Any, ...]:
    return (
        entry.name,
        entry.reporters,
        entry.score,
        tuple(sorted((entry.reasons or {}).items())),
        entry.first_reported_at,
        entry.last_reported_at,
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
    state = session.execute(select(HubState).where(HubState.id == 1)).scalar_one()
    seq = state.last_seq
    entry_rows: list[dict[str, Any]] = []
    change_rows: list[dict[str, Any]] = []
    for part in chunks(ids):
        facts = _load_facts(session, part)
        current = {
            e.member_id: _Current(e.live, e.delisted, _entry_view(e))
            for e in session.execute(select(Entry).where(Entry.member_id.in_(part))).scalars()
        }
        for member_id in part:
            agg = aggregate(facts.get(member_id, ()), now, ageing)
            old = current.get(member_id)
            delisted = old.delisted if old else False
            live = agg is not None and not delisted
            kind: str | None = None
            if live and (old is None or not old.live):
                kind = "new"
            elif live and old is not None and agg is not None and old.view != _view(agg):
                kind = "changed"
            elif not live and old is not None and old.live:
                kind = "deleted"
            if kind is None and old is None and agg is None:
                continue  # never an entry, still nothing to show
            row: dict[str, Any] = {
                "member_id": member_id,
                "live": live,
                "delisted": delisted,
                "next_review_at": agg.next_review_at if agg and not delisted else None,
                "updated_at": now,
            }
            row["payload"] = (
                render_entry(member_id, agg.name, agg.reporters, agg.score, agg.reasons,
                             agg.first_reported_at, agg.last_reported_at)
                if live and agg is not None
                else None
            )  # fmt: skip
            if agg is not None:
                row |= {
                    "name": agg.name,
                    "reporters": agg.reporters,
                    "score": agg.score,
                    "reasons": agg.reasons,
                    "first_reported_at": agg.first_reported_at,
                    "last_reported_at": agg.last_reported_at,
                }
            else:
                row |= {
                    "reporters": 0,
                    "score": 0,
                    "reasons": {},
                }
            if kind is not None:
                seq += 1
                row["seq"] = seq
                change_rows.append({"seq": seq, "member_id": member_id, "kind": kind, "changed_at": now})
            entry_rows.append(row)
    _write_entries(session, entry_rows)
    if change_rows:
        session.execute(insert(Change), change_rows)
        session.execute(update(HubState).where(HubState.id == 1).values(last_seq=seq))
    logger.debug("refreshed %d entries, %d changes", len(ids), len(change_rows))
    return len(change_rows)


def _write_entries(session: Session, rows: list[dict[str, Any]]) -> None:
    """Bulk upsert, grouped by the set of columns given (a dead entry keeps its last name and dates)."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[tuple(sorted(row))].append(row)
    for columns, group in groups.items():
        insert_defaults = {"name": "", "seq": 0}
        values = [insert_defaults | r for r in group]
        all_columns = sorted(set(columns) | set(insert_defaults))
        stmt = upsert(session, Entry, ["member_id"], update=[c for c in columns if c != "member_id"])
        session.execute(stmt, [{c: v.get(c) for c in all_columns} for v in values])
