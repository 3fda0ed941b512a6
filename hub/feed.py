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

`ETag` (see `FeedState.not_modified`): a page is tagged with the cursor it was read after, the cursor it
leaves its reader at, the limit, and the hub's last sequence number and compaction horizon. While these last
two are unchanged, nothing was written, so the same request, or the next poll from where a last page left
its reader, gets 304, decided from one indexed row read. A tag sent with any other cursor never matches,
so no stale tag can hide changes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from hub.models import Change, Entry, HubState

FULL_PULL_BASE = 2**48
_ETAG = re.compile(r'(?:W/)?"([fp])(\d{1,20}):(\d{1,20})-(\d{1,5})-(\d{1,20})-(\d{1,20})"')


class CursorGone(Exception):
    """The hub can no longer serve changes after this cursor; the client must re-pull from 0."""


@dataclass(frozen=True)
class FeedState:
    last_seq: int
    horizon_seq: int

    def etag(self, cursor: int, limit: int, page: FeedPage) -> str:
        """The tag of `page`, read after `cursor`: where it started, where it leaves its reader, the hub."""
        kind = "p" if page.has_more else "f"
        return f'W/"{kind}{cursor}:{page.next_cursor}-{limit}-{self.last_seq}-{self.horizon_seq}"'

    def not_modified(self, if_none_match: str | None, cursor: int, limit: int) -> str | None:
        """The ETag to answer 304 with, or None when the request must get a page.

        A tag matches while the hub's last sequence number and horizon are those it was issued under (so
        nothing changed at all), for the same limit, and either the same cursor (the same request again)
        or, for a last page, the cursor it left its reader at (the next poll, whose page would be empty).
        """
        if not if_none_match:
            return None
        for candidate in if_none_match.split(","):
            match = _ETAG.fullmatch(candidate.strip())
            if match is None:
                continue
            kind, start, end, tag_limit, last_seq, horizon = match.groups()
            if (int(tag_limit), int(last_seq), int(horizon)) != (limit, self.last_seq, self.horizon_seq):
                continue
            if int(start) == cursor:
                return candidate.strip()
            if kind == "f" and int(end) == cursor:
                return f'W/"f{cursor}:{cursor}-{limit}-{self.last_seq}-{self.horizon_seq}"'
        return None

    def check(self, cursor: int) -> None:
        position = cursor - FULL_PULL_BASE if cursor >= FULL_PULL_BASE else cursor
        if position > self.last_seq:
            raise CursorGone(f"cursor {cursor} is ahead of this hub's feed: re-pull from 0")
        if 0 < cursor < self.horizon_seq:
            raise CursorGone(f"cursor {cursor} is older than the compaction horizon: re-pull from 0")


def feed_state(session: Session) -> FeedState:
    row = session.execute(select(HubState.last_seq, HubState.horizon_seq).where(HubState.id == 1)).one()
    return FeedState(int(row.last_seq), int(row.horizon_seq))


def iso(value: datetime) -> str:
    return value.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"


def render_entry(
    member_id: str,
    name: str,
    reporters: int,
    score: int,
    reasons: dict[str, int],
    first_reported_at: datetime,
    last_reported_at: datetime,
    weight: float,
) -> str:
    """The entry as the API shows it (docs/hub-api.md), as compact JSON; stored in `entries.payload`.

    Written by hand because it runs for every changed entry of a snapshot: only the name needs escaping
    (member ids and reasons are validated to plain ASCII words).
    """
    counts = ",".join(f'"{reason}":{count}' for reason, count in sorted(reasons.items()))
    return (
        f'{{"member_id":"{member_id}","name":{json.dumps(name, ensure_ascii=False)},'
        f'"reporters":{reporters},"score":{score},"reasons":{{{counts}}},'
        f'"first_reported_at":"{iso(first_reported_at)}","last_reported_at":"{iso(last_reported_at)}",'
        f'"weight":{json.dumps(float(weight))}}}'
    )


@dataclass(frozen=True)
class FeedPage:
    changes: list[tuple[int, str, str | None]]  # (seq, member id, entry JSON or None for a tombstone)
    next_cursor: int
    has_more: bool

    def to_json(self) -> bytes:
        """The response body, assembled from the stored entry JSON (member ids need no escaping)."""
        items = ",".join(
            f'{{"seq":{seq},"member_id":"{member_id}","deleted":{"false" if entry else "true"},'
            f'"entry":{entry or "null"}}}'
            for seq, member_id, entry in self.changes
        )
        more = "true" if self.has_more else "false"
        return f'{{"changes":[{items}],"next_cursor":{self.next_cursor},"has_more":{more}}}'.encode()


def read_page(session: Session, state: FeedState, cursor: int, limit: int) -> FeedPage:
    """One page of the feed after `cursor` (see docs/hub-api.md); `state` was read first."""
    full_pull = cursor == 0 or cursor >= FULL_PULL_BASE
    position = cursor - FULL_PULL_BASE if cursor >= FULL_PULL_BASE else cursor
    stmt = (
        select(Change.seq, Entry.member_id, Entry.live, Entry.payload)
        .join(Entry, and_(Entry.member_id == Change.member_id, Entry.seq == Change.seq))
        .where(Change.seq > position)
        .order_by(Change.seq)
        .limit(limit + 1)
    )
    if cursor == 0:
        stmt = stmt.where(Entry.live.is_(True))
    rows = session.execute(stmt).all()
    has_more = len(rows) > limit
    changes = [
        (int(seq), member_id, payload if live else None) for seq, member_id, live, payload in rows[:limit]
    ]
    last = changes[-1][0] if changes else position
    next_cursor = max(last, state.last_seq)
    if has_more:
        next_cursor = FULL_PULL_BASE + last if full_pull else last
    return FeedPage(changes, next_cursor, has_more)
