"""Serving the change log: pages of entry changes after a cursor.

The feed serves, for each member id, only its latest change (`changes.seq = entries.seq`): a client only
needs the latest state, and superseded rows may be compacted away. A change that is superseded while a
client pages through simply reappears further on with its new, higher sequence number, so nothing is
skipped. The last page of a pull moves the cursor to the hub's last sequence number read in the same
transaction (every change up to it is committed and was visible to the page query, see `hub.db`).

Cursors are opaque integers. A plain cursor is a sequence number. A pull from 0 (a *full pull*) returns live
entries only on its first page; while it has more pages its `next_cursor` is `FULL_PULL_BASE + seq`, a
continuation that is never refused for being below the compaction horizon (the client started from
nothing, so it cannot hold an entry whose tombstone was purged); its last page hands back a plain cursor.
A plain cursor below the horizon, or ahead of the hub's last sequence number, gets 410 (`CursorGone`).

`ETag` identifies the response for one (cursor, limit) while nothing at all changed in the hub (the last
sequence number and the compaction horizon are in it), so a conditional poll costs one indexed row read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from hub.models import Change, Entry, HubState

FULL_PULL_BASE = 2**48


class CursorGone(Exception):
    """The hub can no longer serve changes after this cursor; the client must re-pull from 0."""


@dataclass(frozen=True)
class FeedState:
    last_seq: int
    horizon_seq: int

    def etag(self, cursor: int, limit: int) -> str:
        return f'W/"f{cursor}-{limit}-{self.last_seq}-{self.horizon_seq}"'

    def check(self, cursor: int) -> None:
        position = cursor - FULL_PULL_BASE if cursor >= FULL_PULL_BASE else cursor
        if position > self.last_seq:
            raise CursorGone(f"cursor {cursor} is ahead of this hub's feed: re-pull from 0")
        if 0 < cursor < self.horizon_seq:
            raise CursorGone(f"cursor {cursor} is older than the compaction horizon: re-pull from 0")


def feed_state(session: Session) -> FeedState:
    row = session.execute(select(HubState.last_seq, HubState.horizon_seq).where(HubState.id == 1)).one()
    return FeedState(int(row.last_seq), int(row.horizon_seq))


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def entry_json(entry: Entry | Any) -> dict[str, Any]:
    return {
        "member_id": entry.member_id,
        "name": entry.name,
        "reporters": entry.reporters,
        "score": entry.score,
        "reasons": dict(entry.reasons or {}),
        "first_reported_at": iso(entry.first_reported_at),
        "last_reported_at": iso(entry.last_reported_at),
    }


def read_page(session: Session, state: FeedState, cursor: int, limit: int) -> dict[str, Any]:
    """One page of the feed as plain JSON-ready data (see docs/hub-api.md); `state` read first."""
    full_pull = cursor == 0 or cursor >= FULL_PULL_BASE
    position = cursor - FULL_PULL_BASE if cursor >= FULL_PULL_BASE else cursor
    stmt = (
        select(
            Change.seq,
            Entry.member_id,
            Entry.live,
            Entry.name,
            Entry.reporters,
            Entry.score,
            Entry.reasons,
            Entry.first_reported_at,
            Entry.last_reported_at,
        )
        .join(Entry, and_(Entry.member_id == Change.member_id, Entry.seq == Change.seq))
        .where(Change.seq > position)
        .order_by(Change.seq)
        .limit(limit + 1)
    )
    if cursor == 0:
        stmt = stmt.where(Entry.live.is_(True))
    rows = session.execute(stmt).all()
    has_more = len(rows) > limit
    rows = rows[:limit]
    changes = [
        {
            "seq": int(row.seq),
            "member_id": row.member_id,
            "deleted": not row.live,
            "entry": entry_json(row) if row.live else None,
        }
        for row in rows
    ]
    last = changes[-1]["seq"] if changes else position
    next_cursor = max(last, state.last_seq)
    if has_more:
        next_cursor = FULL_PULL_BASE + last if full_pull else last
    return {"changes": changes, "next_cursor": next_cursor, "has_more": has_more}
