"""The outbox: this seller's reports and withdrawals waiting for the hub (the latest wish per buyer)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from agent.hub_models import Report, valid_member_id
from agent.state.db import Database, from_iso, iso, now
from agent.state.records import OutboxItem


class Outbox:
    def __init__(self, db: Database) -> None:
        self._db = db

    def queue_report(self, report: Report) -> None:
        self._queue("report", report.member_id, report.name, report.reason, report.reported_at)

    def queue_withdrawal(self, member_id: str, name: str) -> None:
        self._queue("withdraw", member_id, name, "unspecified", None)

    def _queue(self, action: str, member_id: str, name: str, reason: str, at: datetime | None) -> None:
        # The latest wish per buyer wins: a withdrawal replaces a report still waiting, and vice versa.
        # An id the hub would never accept is set aside at once (rejected, visible in `status`): sent, it
        # could only fail, and it must never become part of a request path.
        bad = not valid_member_id(member_id)
        self._db.execute(
            "INSERT OR REPLACE INTO outbox (member_id, action, name, reason, reported_at, queued_at, "
            "rejected, last_error) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                member_id,
                action,
                name,
                reason,
                iso(at),
                iso(now()),
                int(bad),
                "not a member id the hub accepts" if bad else None,
            ),
        )

    def items(self, *, include_rejected: bool = False) -> list[OutboxItem]:
        where = "" if include_rejected else "WHERE rejected = 0"
        rows = self._db.execute(f"SELECT * FROM outbox {where} ORDER BY queued_at, member_id")  # noqa: S608
        return [
            OutboxItem(
                r["member_id"],
                r["action"],
                r["name"],
                r["reason"],
                from_iso(r["reported_at"]),
                r["attempts"],
                r["last_error"],
            )
            for r in rows
        ]

    def counts(self) -> dict[str, int]:
        row = self._db.execute(
            "SELECT count(*) FILTER (WHERE rejected = 0), count(*) FILTER (WHERE rejected = 1) FROM outbox"
        ).fetchone()
        return {"pending": int(row[0]), "rejected": int(row[1])}

    def delivered(self, member_ids: Iterable[str]) -> None:
        self._db.conn.executemany("DELETE FROM outbox WHERE member_id = ?", [(m,) for m in member_ids])

    def failed(self, member_ids: Iterable[str], error: str, *, rejected: bool = False) -> None:
        self._db.conn.executemany(
            "UPDATE outbox SET attempts = attempts + 1, last_error = ?, rejected = ? WHERE member_id = ?",
            [(error, int(rejected), m) for m in member_ids],
        )

    def clear(self) -> None:
        self._db.execute("DELETE FROM outbox")
