"""The pooled list cached from the hub's feed, and where this agent stands in that feed."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from agent.hub_models import SharedEntry
from agent.state.db import Database, dumps, from_iso, iso
from agent.state.records import FeedCursor

_POSITION, _ETAG, _GENERATION, _FULL_PULL, _PULLED = (
    "feed_cursor",
    "feed_etag",
    "feed_generation",
    "feed_full_pull",
    "feed_pulled_at",
)


def _entry_from_row(row: Any) -> SharedEntry:
    return SharedEntry(
        member_id=row["member_id"],
        name=row["name"],
        reporters=row["reporters"],
        score=row["score"],
        reasons=json.loads(row["reasons"]),
        first_reported_at=from_iso(row["first_reported_at"]),
        last_reported_at=from_iso(row["last_reported_at"]),
        weight=row["weight"],
    )


class SharedList:
    def __init__(self, db: Database) -> None:
        self._db = db

    def entries(self) -> dict[str, SharedEntry]:
        rows = self._db.execute("SELECT * FROM shared_entries")
        return {r["member_id"]: _entry_from_row(r) for r in rows}

    def count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM shared_entries").fetchone()[0])

    def get(self, member_id: str) -> SharedEntry | None:
        row = self._db.execute("SELECT * FROM shared_entries WHERE member_id = ?", (member_id,)).fetchone()
        return None if row is None else _entry_from_row(row)

    def upsert(self, entries: Iterable[SharedEntry], generation: int) -> None:
        self._db.conn.executemany(
            "INSERT OR REPLACE INTO shared_entries (member_id, name, reporters, score, reasons, "
            "first_reported_at, last_reported_at, generation, weight) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    e.member_id,
                    e.name,
                    e.reporters,
                    e.score,
                    dumps(dict(e.reasons)),
                    iso(e.first_reported_at),
                    iso(e.last_reported_at),
                    generation,
                    e.weight,
                )
                for e in entries
            ],
        )

    def delete(self, member_ids: Iterable[str]) -> None:
        self._db.conn.executemany(
            "DELETE FROM shared_entries WHERE member_id = ?", [(m,) for m in member_ids]
        )

    def prune(self, generation: int) -> int:
        """After a full pull: drop what it did not return."""
        return self._db.execute("DELETE FROM shared_entries WHERE generation < ?", (generation,)).rowcount


class FeedPosition:
    """Load and save the agent's `FeedCursor` (kept in the state's key/value table)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def load(self) -> FeedCursor:
        get = self._db.get_meta
        return FeedCursor(
            position=int(get(_POSITION) or 0),
            etag=get(_ETAG),
            generation=int(get(_GENERATION) or 0),
            full_pull=get(_FULL_PULL) is not None,
            pulled=get(_PULLED) is not None,
        )

    def save(self, cursor: FeedCursor) -> None:
        put = self._db.set_meta
        put(_POSITION, str(cursor.position))
        put(_ETAG, cursor.etag)
        put(_GENERATION, str(cursor.generation))
        put(_FULL_PULL, "1" if cursor.full_pull else None)
        put(_PULLED, "1" if cursor.pulled else None)
