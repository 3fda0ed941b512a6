"""Publication: entries whose aggregate changed reach the feed in batches that mix sellers.

`hub.entries.refresh_entries` only marks a changed entry `pending`. `publish` takes the pending entries
(every seller's, whatever request or operator action changed them), shuffles them, and gives each one
whose feed view changed the next sequence number and a change row, in one write transaction. So the feed's
order says nothing about which request, or which seller, caused a change: one request's changes do not get
consecutive sequence numbers as soon as anything else is pending in the same batch.

An entry is in the feed (`live`) only while it has at least `min_reporters` counting reporters; falling
below is a deletion (tombstone). Below the threshold an entry is still answered by `GET /v1/lookup`.

When it runs: every `publish_interval_seconds` in each hub process (a task of the app's lifespan, see
`hub.app`); with an interval of 0, at the end of the very transaction that made the change (the
`Database.publisher` hook). `blacklist-hub publish` runs it by hand. Publication goes through
`Database.write`, so it wakes the feed's waiting clients like any other write.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session

from hub.feed import render_entry
from hub.models import Change, Entry, HubState
from hub.sql import insert_rows, update_rows

logger = logging.getLogger(__name__)

BATCH = 500  # per transaction: other writers get the lock between batches (bench/churn.py)
_random = random.SystemRandom()


@dataclass(frozen=True)
class Publication:
    min_reporters: int
    interval_seconds: float

    @property
    def immediate(self) -> bool:
        return self.interval_seconds <= 0


def has_pending(session: Session) -> bool:
    return bool(session.execute(select(exists().where(Entry.pending.is_(True)))).scalar())


def publish(session: Session, now: datetime, min_reporters: int, *, batch: int = BATCH) -> tuple[int, bool]:
    """Publish up to `batch` pending entries in random order; returns (feed changes, whether more wait)."""
    columns = (
        Entry.member_id,
        Entry.name,
        Entry.reporters,
        Entry.weight,
        Entry.score,
        Entry.reasons,
        Entry.first_reported_at,
        Entry.last_reported_at,
        Entry.counted,
        Entry.live,
        Entry.payload,
    )
    rows = list(session.execute(select(*columns).where(Entry.pending.is_(True)).limit(batch + 1)))
    more = len(rows) > batch
    rows = rows[:batch]
    if not rows:
        return 0, False
    _random.shuffle(rows)
    seq = int(session.execute(select(HubState.last_seq).where(HubState.id == 1)).scalar_one())
    updates: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []
    for row in rows:
        shown = bool(row.counted) and row.reporters >= min_reporters
        payload = _render(row) if shown else None
        kind = None
        if shown and not row.live:
            kind = "new"
        elif shown and payload != row.payload:
            kind = "changed"
        elif not shown and row.live:
            kind = "deleted"
        values: dict[str, Any] = {
            "member_id": row.member_id,
            "pending": False,
            "live": shown,
            "payload": payload,
        }
        if kind is not None:
            seq += 1
            values["seq"] = seq
            changes.append({"seq": seq, "member_id": row.member_id, "kind": kind, "changed_at": now})
        updates.append(values)
    with_seq = [u for u in updates if "seq" in u]
    without = [u for u in updates if "seq" not in u]
    for group in (with_seq, without):
        update_rows(session, Entry, "member_id", group)
    insert_rows(session, Change, changes)
    if changes:
        session.execute(update(HubState).where(HubState.id == 1).values(last_seq=seq))
    logger.debug("published %d entries: %d feed changes", len(rows), len(changes))
    return len(changes), more


def publish_all(session: Session, now: datetime, min_reporters: int) -> int:
    """Publish every pending entry (in batches, within this transaction)."""
    total, more = 0, True
    while more:
        changes, more = publish(session, now, min_reporters)
        total += changes
    return total


def immediate_publisher(clock: Callable[[], datetime], min_reporters: int) -> Callable[[Session], None]:
    """The `Database.publisher` hook of a hub that publishes at once (interval 0)."""

    def hook(session: Session) -> None:
        publish_all(session, clock(), min_reporters)

    return hook


def _render(row: Any) -> str:
    return render_entry(
        row.member_id,
        row.name,
        row.reporters,
        row.score,
        row.reasons or {},
        row.first_reported_at,
        row.last_reported_at,
        row.weight,
    )
