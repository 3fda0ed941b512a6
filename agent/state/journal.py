"""The local state's records of what the agent did and why: intents, the audit log, alerts, the review
list, refusals by the backend, and past cycles (docs/safety.md rule 5: every automatic action has
provenance). One small repository per record kind, all over the same `Database`."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal

from agent.hub_models import SharedEntry
from agent.models import Order, PendingIntent, ReviewItem
from agent.state.db import Database, dumps, from_iso, iso, now
from agent.state.records import Alert, AuditRecord, CycleRecord, ReviewRecord


class Intents:
    """Recorded before the agent touches the store, settled after (or by the next read of the blacklist)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def record(
        self,
        action: Literal["add", "remove"],
        member_id: str,
        name: str,
        *,
        why: str,
        provenance: dict[str, Any] | None = None,
        score: int | None = None,
    ) -> int:
        cursor = self._db.execute(
            "INSERT INTO intents (action, member_id, name, why, provenance, score, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (action, member_id, name, why, dumps(provenance) if provenance else None, score, iso(now())),
        )
        return int(cursor.lastrowid or 0)

    def settle(self, intent_id: int, status: Literal["done", "failed", "abandoned"], outcome: str) -> None:
        self._db.execute(
            "UPDATE intents SET status = ?, outcome = ?, finished_at = ? WHERE id = ?",
            (status, outcome, iso(now()), intent_id),
        )

    def prune(self, older_than: datetime) -> int:
        """Forget settled intents (the audit log keeps the story); pending ones are never pruned."""
        return self._db.execute(
            "DELETE FROM intents WHERE status != 'pending' AND finished_at < ?", (iso(older_than),)
        ).rowcount

    def pending(self) -> list[PendingIntent]:
        rows = self._db.execute("SELECT * FROM intents WHERE status = 'pending' ORDER BY id")
        return [
            PendingIntent(
                r["id"],
                r["action"],
                r["member_id"],
                r["name"],
                why=r["why"],
                provenance=json.loads(r["provenance"]) if r["provenance"] else None,
                score=r["score"],
            )
            for r in rows
        ]


class AuditLog:
    def __init__(self, db: Database) -> None:
        self._db = db

    def record(self, action: str, member_id: str, name: str | None, details: dict[str, Any]) -> None:
        self._db.execute(
            "INSERT INTO audit (at, action, member_id, name, details) VALUES (?, ?, ?, ?, ?)",
            (iso(now()), action, member_id, name, dumps(details)),
        )

    def recent(self, *, member_id: str | None = None, limit: int = 100) -> list[AuditRecord]:
        where, params = ("WHERE member_id = ?", (member_id, limit)) if member_id else ("", (limit,))
        rows = self._db.execute(
            f"SELECT * FROM audit {where} ORDER BY id DESC LIMIT ?",  # noqa: S608
            params,
        )
        return [
            AuditRecord(
                r["id"],
                from_iso(r["at"]) or now(),
                r["action"],
                r["member_id"],
                r["name"],
                json.loads(r["details"]),
            )
            for r in rows
        ]


class Alerts:
    def __init__(self, db: Database) -> None:
        self._db = db

    def raise_for(self, order: Order, entry: SharedEntry) -> Alert | None:
        """Record an order from a buyer on the pooled list; None when that order was already alerted."""
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO alerts (order_id, member_id, name, order_created_at, reporters, score, "
            "reasons, raised_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                order.order_id,
                order.member_id,
                order.buyer_name,
                iso(order.created_at),
                entry.reporters,
                entry.score,
                dumps(dict(entry.reasons)),
                iso(now()),
            ),
        )
        if not cursor.rowcount:
            return None
        return Alert(
            order.order_id,
            order.member_id,
            order.buyer_name,
            order.created_at,
            entry.reporters,
            entry.score,
            dict(entry.reasons),
        )

    def recent(self, *, limit: int = 50) -> list[Alert]:
        rows = self._db.execute("SELECT * FROM alerts ORDER BY order_created_at DESC LIMIT ?", (limit,))
        return [_alert(r) for r in rows]

    def dismiss(self, order_id: str) -> Alert | None:
        """Forget an alert the seller has dealt with; the alert, or None when there was none."""
        row = self._db.execute("SELECT * FROM alerts WHERE order_id = ?", (order_id,)).fetchone()
        if row is None:
            return None
        self._db.execute("DELETE FROM alerts WHERE order_id = ?", (order_id,))
        return _alert(row)


class ReviewList:
    def __init__(self, db: Database) -> None:
        self._db = db

    def replace(self, items: Iterable[ReviewItem]) -> None:
        """Replace the review list with this cycle's, keeping when each buyer was first flagged."""
        items = list(items)
        keep = [i.entry.member_id for i in items]
        marks = ",".join("?" * len(keep))
        self._db.execute(f"DELETE FROM review WHERE member_id NOT IN ({marks})", keep)  # noqa: S608
        for item in items:
            e = item.entry
            self._db.execute(
                "INSERT INTO review (member_id, name, reporters, score, reasons, completed_orders, "
                "flagged_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (member_id) DO UPDATE SET "
                "name = excluded.name, "
                "reporters = excluded.reporters, score = excluded.score, reasons = excluded.reasons, "
                "completed_orders = excluded.completed_orders",
                (
                    e.member_id,
                    e.name,
                    e.reporters,
                    e.score,
                    dumps(dict(e.reasons)),
                    item.completed_orders,
                    iso(now()),
                ),
            )

    def remove(self, member_id: str) -> bool:
        """Take one buyer off the review list (the seller decided); False when not there."""
        return self._db.execute("DELETE FROM review WHERE member_id = ?", (member_id,)).rowcount > 0

    def items(self) -> list[ReviewRecord]:
        rows = self._db.execute("SELECT * FROM review ORDER BY score DESC, member_id")
        return [
            ReviewRecord(
                r["member_id"],
                r["name"],
                r["reporters"],
                r["score"],
                json.loads(r["reasons"]),
                r["completed_orders"],
                from_iso(r["flagged_at"]) or now(),
            )
            for r in rows
        ]


class Rejections:
    """Buyers the backend refused to blacklist under a name: not retried until the hub's name changes."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def record(self, member_id: str, name: str, outcome: str, message: str) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO rejected (member_id, name, outcome, message, at) VALUES (?, ?, ?, ?, ?)",
            (member_id, name, outcome, message, iso(now())),
        )

    def names(self) -> dict[str, str]:
        """member id → the name the backend refused."""
        return {r["member_id"]: r["name"] for r in self._db.execute("SELECT member_id, name FROM rejected")}


class Cycles:
    def __init__(self, db: Database) -> None:
        self._db = db

    def start(self, kind: str) -> int:
        cursor = self._db.execute("INSERT INTO cycles (kind, started_at) VALUES (?, ?)", (kind, iso(now())))
        return int(cursor.lastrowid or 0)

    def finish(self, cycle_id: int, outcome: str, report: dict[str, Any]) -> None:
        self._db.execute(
            "UPDATE cycles SET finished_at = ?, outcome = ?, report = ? WHERE id = ?",
            (iso(now()), outcome, dumps(report), cycle_id),
        )

    def last(self, kind: str | None = None) -> CycleRecord | None:
        where, params = ("WHERE kind = ?", (kind,)) if kind else ("", ())
        row = self._db.execute(
            f"SELECT * FROM cycles {where} ORDER BY id DESC LIMIT 1",  # noqa: S608
            params,
        ).fetchone()
        return None if row is None else _cycle(row)

    def recent(self, *, limit: int = 20) -> list[CycleRecord]:
        """The latest cycles, newest first."""
        rows = self._db.execute("SELECT * FROM cycles ORDER BY id DESC LIMIT ?", (limit,))
        return [_cycle(r) for r in rows]

    def running_at(self, when: datetime) -> CycleRecord | None:
        """The cycle that was running at `when` (the latest one started by then), or None."""
        row = self._db.execute(
            "SELECT * FROM cycles WHERE started_at <= ? ORDER BY started_at DESC, id DESC LIMIT 1",
            (iso(when),),
        ).fetchone()
        return None if row is None else _cycle(row)

    @property
    def next_run_at(self) -> datetime | None:
        """When the background agent plans its next cycle (it sets this; None when not running)."""
        return from_iso(self._db.get_meta("next_run_at"))

    @next_run_at.setter
    def next_run_at(self, when: datetime | None) -> None:
        self._db.set_meta("next_run_at", iso(when))


def _cycle(row: Any) -> CycleRecord:
    return CycleRecord(
        row["id"],
        row["kind"],
        from_iso(row["started_at"]) or now(),
        from_iso(row["finished_at"]),
        row["outcome"],
        json.loads(row["report"]) if row["report"] else None,
    )


def _alert(row: Any) -> Alert:
    return Alert(
        row["order_id"],
        row["member_id"],
        row["name"],
        from_iso(row["order_created_at"]) or now(),
        row["reporters"],
        row["score"],
        json.loads(row["reasons"]),
    )
