"""LocalState: what the agent remembers between cycles, in the seller's words.

The store's blacklist as last seen with each entry's origin and provenance, the allowlist, the cached
pooled list and feed cursor, recorded orders, the outbox of pushes, intents, the audit log, alerts, the
review list and past cycles. Methods are small and do one thing; the engine groups them in transactions.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from agent.diff import KnownEntry, Origin
from agent.hub_models import Report, SharedEntry
from agent.models import BlacklistEntry, Order
from agent.state.db import dumps, from_iso, iso, now
from agent.state.journal import Journal
from agent.state.records import AgentEntry, OutboxItem

# Order statuses that count as a completed sale when protecting good customers. Matched case-insensitively.
COMPLETED_STATUSES = ("completed", "complete", "finished", "delivered", "closed")


def _entry_from_row(row: Any) -> SharedEntry:
    return SharedEntry(
        member_id=row["member_id"],
        name=row["name"],
        reporters=row["reporters"],
        score=row["score"],
        reasons=json.loads(row["reasons"]),
        first_reported_at=from_iso(row["first_reported_at"]),
        last_reported_at=from_iso(row["last_reported_at"]),
    )


class LocalState(Journal):
    # --- the store's blacklist -------------------------------------------------------------------------
    def known_entries(self) -> dict[str, KnownEntry]:
        rows = self.execute("SELECT member_id, name, origin FROM blacklist")
        return {r["member_id"]: KnownEntry(r["member_id"], r["name"], r["origin"]) for r in rows}

    def add_manual(self, entry: BlacklistEntry) -> None:
        self.execute(
            "INSERT OR REPLACE INTO blacklist (member_id, name, origin, blacklisted_at, first_seen_at) "
            "VALUES (?, ?, 'manual', ?, ?)",
            (entry.member_id, entry.name, iso(entry.blacklisted_at), iso(now())),
        )

    def add_agent(self, member_id: str, name: str, *, provenance: dict[str, Any], score: int) -> None:
        at = iso(now())
        self.execute(
            "INSERT OR REPLACE INTO blacklist (member_id, name, origin, blacklisted_at, first_seen_at, "
            "provenance, score, added_at) VALUES (?, ?, 'agent', ?, ?, ?, ?, ?)",
            (member_id, name, at, at, dumps(provenance), score, at),
        )

    def forget_entry(self, member_id: str) -> None:
        self.execute("DELETE FROM blacklist WHERE member_id = ?", (member_id,))

    def agent_entries(self) -> dict[str, AgentEntry]:
        rows = self.execute(
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
        for r in self.execute("SELECT origin, count(*) AS n FROM blacklist GROUP BY origin"):
            counts[r["origin"]] = int(r["n"])
        return counts

    # --- our own reports, as the hub holds them ------------------------------------------------------
    def reported_ids(self) -> set[str]:
        return {r[0] for r in self.execute("SELECT member_id FROM reported")}

    def mark_reported(self, reports: Iterable[Report]) -> None:
        at = iso(now())
        self.conn.executemany(
            "INSERT OR REPLACE INTO reported (member_id, name, confirmed_at) VALUES (?, ?, ?)",
            [(r.member_id, r.name, at) for r in reports],
        )

    def mark_unreported(self, member_ids: Iterable[str]) -> None:
        self.conn.executemany("DELETE FROM reported WHERE member_id = ?", [(m,) for m in member_ids])

    def replace_reported(self, reports: Iterable[Report]) -> None:
        self.execute("DELETE FROM reported")
        self.mark_reported(reports)

    # --- allowlist ----------------------------------------------------------------------------------
    def allow(self, member_id: str, name: str | None, reason: str) -> bool:
        """Put a buyer on the allowlist; False when already there."""
        cursor = self.execute(
            "INSERT OR IGNORE INTO allowlist (member_id, name, reason, created_at) VALUES (?, ?, ?, ?)",
            (member_id, name, reason, iso(now())),
        )
        self.execute("DELETE FROM review WHERE member_id = ?", (member_id,))
        return cursor.rowcount > 0

    def allowlisted(self) -> set[str]:
        return {r[0] for r in self.execute("SELECT member_id FROM allowlist")}

    def allowlist(self) -> list[dict[str, Any]]:
        rows = self.execute("SELECT member_id, name, reason, created_at FROM allowlist ORDER BY created_at")
        return [dict(r) for r in rows]

    # --- the pooled list, cached from the feed ------------------------------------------------------
    def shared_entries(self) -> dict[str, SharedEntry]:
        return {r["member_id"]: _entry_from_row(r) for r in self.execute("SELECT * FROM shared_entries")}

    def shared_entry(self, member_id: str) -> SharedEntry | None:
        row = self.execute("SELECT * FROM shared_entries WHERE member_id = ?", (member_id,)).fetchone()
        return None if row is None else _entry_from_row(row)

    def upsert_shared(self, entries: Iterable[SharedEntry], generation: int) -> None:
        self.conn.executemany(
            "INSERT OR REPLACE INTO shared_entries (member_id, name, reporters, score, reasons, "
            "first_reported_at, last_reported_at, generation) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
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
                )
                for e in entries
            ],
        )

    def delete_shared(self, member_ids: Iterable[str]) -> None:
        self.conn.executemany("DELETE FROM shared_entries WHERE member_id = ?", [(m,) for m in member_ids])

    def prune_shared(self, generation: int) -> int:
        """After a full re-pull: drop what it did not return."""
        return self.execute("DELETE FROM shared_entries WHERE generation < ?", (generation,)).rowcount

    # --- orders -------------------------------------------------------------------------------------
    def record_orders(self, orders: Iterable[Order]) -> list[Order]:
        """Save orders; returns those not seen before (reading with an overlap is therefore harmless)."""
        new = []
        at = iso(now())
        for order in orders:
            cursor = self.execute(
                "INSERT OR IGNORE INTO orders (order_id, member_id, buyer_name, created_at, status, "
                "recorded_at) VALUES (?, ?, ?, ?, ?, ?)",
                (order.order_id, order.member_id, order.buyer_name, iso(order.created_at), order.status, at),
            )
            if cursor.rowcount:
                new.append(order)
        return new

    def buyer_names(self) -> dict[str, str]:
        """member id → the buyer's name on their latest order here: the name this store matches links to."""
        rows = self.execute(
            "SELECT member_id, buyer_name FROM orders AS o WHERE created_at = "
            "(SELECT max(created_at) FROM orders WHERE member_id = o.member_id) ORDER BY order_id"
        )
        return {r["member_id"]: r["buyer_name"] for r in rows}

    def completed_orders(self) -> dict[str, int]:
        marks = ",".join("?" * len(COMPLETED_STATUSES))
        rows = self.execute(
            f"SELECT member_id, count(*) AS n FROM orders WHERE lower(status) IN ({marks}) "  # noqa: S608
            "GROUP BY member_id",
            COMPLETED_STATUSES,
        )
        return {r["member_id"]: int(r["n"]) for r in rows}

    # --- outbox -------------------------------------------------------------------------------------
    def queue_report(self, report: Report) -> None:
        self._queue("report", report.member_id, report.name, report.reason, report.reported_at)

    def queue_withdrawal(self, member_id: str, name: str) -> None:
        self._queue("withdraw", member_id, name, "unspecified", None)

    def _queue(self, action: str, member_id: str, name: str, reason: str, at: datetime | None) -> None:
        # The latest wish per buyer wins: a withdrawal replaces a report still waiting, and vice versa.
        self.execute(
            "INSERT OR REPLACE INTO outbox (member_id, action, name, reason, reported_at, queued_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (member_id, action, name, reason, iso(at), iso(now())),
        )

    def outbox(self, *, include_rejected: bool = False) -> list[OutboxItem]:
        where = "" if include_rejected else "WHERE rejected = 0"
        rows = self.execute(f"SELECT * FROM outbox {where} ORDER BY queued_at, member_id")  # noqa: S608
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

    def outbox_counts(self) -> dict[str, int]:
        row = self.execute(
            "SELECT count(*) FILTER (WHERE rejected = 0), count(*) FILTER (WHERE rejected = 1) FROM outbox"
        ).fetchone()
        return {"pending": int(row[0]), "rejected": int(row[1])}

    def outbox_delivered(self, member_ids: Iterable[str]) -> None:
        self.conn.executemany("DELETE FROM outbox WHERE member_id = ?", [(m,) for m in member_ids])

    def outbox_failed(self, member_ids: Iterable[str], error: str, *, rejected: bool = False) -> None:
        self.conn.executemany(
            "UPDATE outbox SET attempts = attempts + 1, last_error = ?, rejected = ? WHERE member_id = ?",
            [(error, int(rejected), m) for m in member_ids],
        )

    def clear_outbox(self) -> None:
        self.execute("DELETE FROM outbox")
