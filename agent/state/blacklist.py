"""The store's blacklist as the agent knows it, the allowlist, and the reports the hub holds from us.

`BlacklistBook` remembers each entry's origin (the seller's, or added by the agent from the shared list)
and, for the agent's, the shared entry it was based on (docs/safety.md rules 1 and 5). `Allowlist` holds the
buyers the agent must never add. `ReportedSet` mirrors this seller's reports on the hub, as far as the agent
knows, and when the whole set was last confirmed with a snapshot.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from agent.hub_models import Report
from agent.models import BlacklistEntry, KnownEntry, Origin
from agent.state.db import Database, dumps, from_iso, iso, now
from agent.state.record import queue_record_change
from agent.state.records import AgentEntry, AllowlistEntry, BlacklistRow

_CAPACITY = "blacklist_capacity"
_SNAPSHOT_AT = "snapshot_at"


class BlacklistBook:
    def __init__(self, db: Database) -> None:
        self._db = db

    def known(self) -> dict[str, KnownEntry]:
        rows = self._db.execute("SELECT member_id, name, origin FROM blacklist")
        return {r["member_id"]: KnownEntry(r["member_id"], r["name"], r["origin"]) for r in rows}

    def add_manual(self, entry: BlacklistEntry) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO blacklist (member_id, name, origin, blacklisted_at, first_seen_at) "
            "VALUES (?, ?, 'manual', ?, ?)",
            (entry.member_id, entry.name, iso(entry.blacklisted_at), iso(now())),
        )

    def add_automatic(
        self, member_id: str, name: str, *, provenance: dict[str, Any], score: int, to_hub: bool = True
    ) -> None:
        """Record an entry the agent added; the hub's private record learns it too (docs/safety.md
        rule 10), unless `to_hub` is False (the entry came from that record)."""
        at = iso(now())
        self._db.execute(
            "INSERT OR REPLACE INTO blacklist (member_id, name, origin, blacklisted_at, first_seen_at, "
            "provenance, score, added_at) VALUES (?, ?, 'agent', ?, ?, ?, ?, ?)",
            (member_id, name, at, at, dumps(provenance), score, at),
        )
        if to_hub:
            queue_record_change(self._db, "auto", "add", member_id, name)

    def make_automatic(self, member_id: str, provenance: dict[str, Any]) -> None:
        """An entry taken for the seller's turns out to be the agent's (the hub's record says so)."""
        self._db.execute(
            "UPDATE blacklist SET origin = 'agent', provenance = ?, score = coalesce(score, 0), "
            "added_at = coalesce(added_at, blacklisted_at, first_seen_at) WHERE member_id = ?",
            (dumps(provenance), member_id),
        )

    def forget(self, member_id: str) -> None:
        row = self._db.execute("SELECT origin FROM blacklist WHERE member_id = ?", (member_id,)).fetchone()
        self._db.execute("DELETE FROM blacklist WHERE member_id = ?", (member_id,))
        if row is not None and row["origin"] == "agent":
            # Gone from the store: a report by hand about this buyer counts again on the hub
            # (docs/safety.md rule 10).
            queue_record_change(self._db, "auto", "remove", member_id, None)

    def automatic(self) -> dict[str, AgentEntry]:
        """The entries the agent added, oldest first."""
        rows = self._db.execute(
            "SELECT member_id, name, score, provenance, added_at FROM blacklist WHERE origin = 'agent' "
            "ORDER BY added_at, member_id"
        )
        return {
            r["member_id"]: AgentEntry(
                r["member_id"],
                r["name"],
                int(r["score"] or 0),
                json.loads(r["provenance"] or "{}"),
                from_iso(r["added_at"]),
            )
            for r in rows
        }

    def counts_by_origin(self) -> dict[Origin, int]:
        counts: dict[Origin, int] = {"manual": 0, "agent": 0}
        for r in self._db.execute("SELECT origin, count(*) AS n FROM blacklist GROUP BY origin"):
            counts[r["origin"]] = int(r["n"])
        return counts

    def listing(
        self, *, search: str = "", origin: Origin | None = None, offset: int = 0, limit: int = 50
    ) -> tuple[list[BlacklistRow], int]:
        """One page of the blacklist, most recently blacklisted first, and how many entries match.

        `search` matches a part of the member id or of the name (case-insensitive).
        """
        where: list[str] = ["1 = 1"]
        params: list[object] = []
        if search:
            pattern = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            where.append("(member_id LIKE ? ESCAPE '\\' OR name LIKE ? ESCAPE '\\')")
            params += [pattern, pattern]
        if origin is not None:
            where.append("origin = ?")
            params.append(origin)
        condition = " AND ".join(where)
        count = f"SELECT count(*) FROM blacklist WHERE {condition}"  # noqa: S608 (placeholders only)
        total = self._db.execute(count, params).fetchone()[0]
        rows = self._db.execute(
            f"SELECT * FROM blacklist WHERE {condition} "  # noqa: S608 (only placeholders are interpolated)
            "ORDER BY coalesce(added_at, blacklisted_at, first_seen_at) DESC, member_id LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
        return [_row(r) for r in rows], int(total)

    def get(self, member_id: str) -> BlacklistRow | None:
        """One entry as `listing` shows it, or None when the buyer is not on the blacklist."""
        row = self._db.execute("SELECT * FROM blacklist WHERE member_id = ?", (member_id,)).fetchone()
        return None if row is None else _row(row)

    @property
    def known_capacity(self) -> int | None:
        """The size at which the store last answered "blacklist full" (None: not known to be full)."""
        value = self._db.get_meta(_CAPACITY)
        return int(value) if value is not None else None

    @known_capacity.setter
    def known_capacity(self, size: int | None) -> None:
        self._db.set_meta(_CAPACITY, None if size is None else str(size))


def _row(r: Any) -> BlacklistRow:
    return BlacklistRow(
        r["member_id"],
        r["name"],
        r["origin"],
        from_iso(r["blacklisted_at"]),
        from_iso(r["added_at"]),
        r["score"],
        json.loads(r["provenance"] or "{}"),
    )


class Allowlist:
    def __init__(self, db: Database) -> None:
        self._db = db

    def add(self, member_id: str, name: str | None, reason: str, *, to_hub: bool = True) -> bool:
        """Put a buyer on the allowlist (and off the review list); False when already there.

        The hub's private record learns it too (docs/safety.md rule 10), unless `to_hub` is False (it
        came from there).
        """
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO allowlist (member_id, name, reason, created_at) VALUES (?, ?, ?, ?)",
            (member_id, name, reason, iso(now())),
        )
        self._db.execute("DELETE FROM review WHERE member_id = ?", (member_id,))
        added = cursor.rowcount > 0
        if added and to_hub:
            queue_record_change(self._db, "allow", "add", member_id, name)
        return added

    def remove(self, member_id: str) -> bool:
        """Take a buyer off the allowlist; False when not there."""
        removed = self._db.execute("DELETE FROM allowlist WHERE member_id = ?", (member_id,)).rowcount > 0
        if removed:
            queue_record_change(self._db, "allow", "remove", member_id, None)
        return removed

    def ids(self) -> set[str]:
        return {r[0] for r in self._db.execute("SELECT member_id FROM allowlist")}

    def entries(self) -> list[AllowlistEntry]:
        rows = self._db.execute(
            "SELECT member_id, name, reason, created_at FROM allowlist ORDER BY created_at, member_id"
        )
        return [
            AllowlistEntry(r["member_id"], r["name"], r["reason"], from_iso(r["created_at"]) or now())
            for r in rows
        ]

    def __contains__(self, member_id: object) -> bool:
        row = self._db.execute("SELECT 1 FROM allowlist WHERE member_id = ?", (member_id,)).fetchone()
        return row is not None


class ReportedSet:
    def __init__(self, db: Database) -> None:
        self._db = db

    def ids(self) -> set[str]:
        return {r[0] for r in self._db.execute("SELECT member_id FROM reported")}

    def mark(self, reports: Iterable[Report]) -> None:
        at = iso(now())
        self._db.conn.executemany(
            "INSERT OR REPLACE INTO reported (member_id, name, confirmed_at) VALUES (?, ?, ?)",
            [(r.member_id, r.name, at) for r in reports],
        )

    def unmark(self, member_ids: Iterable[str]) -> None:
        self._db.conn.executemany("DELETE FROM reported WHERE member_id = ?", [(m,) for m in member_ids])

    def replace(self, reports: Iterable[Report]) -> None:
        self._db.execute("DELETE FROM reported")
        self.mark(reports)

    @property
    def snapshot_at(self) -> datetime | None:
        """When this agent last pushed the seller's whole set as a snapshot (None: never)."""
        value = self._db.get_meta(_SNAPSHOT_AT)
        if value is None or value == "refused":  # "refused": written by older agents
            return None
        return from_iso(value)

    @property
    def ever_snapshotted(self) -> bool:
        return self._db.get_meta(_SNAPSHOT_AT) is not None

    def snapshot_pushed(self, at: datetime | None = None) -> None:
        self._db.set_meta(_SNAPSHOT_AT, iso(at or now()))
