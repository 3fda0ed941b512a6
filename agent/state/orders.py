"""The store's orders as the agent has read them: for alerts, for protecting good customers, and for the
name each buyer goes by in this store."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from agent.models import Order
from agent.state.db import Database, from_iso, iso, now

# Order statuses that count as a completed sale when protecting good customers. Matched case-insensitively.
COMPLETED_STATUSES = ("completed", "complete", "finished", "delivered", "closed")
_WATERMARK = "orders_watermark"


class OrderBook:
    def __init__(self, db: Database) -> None:
        self._db = db

    def record(self, orders: Iterable[Order]) -> list[Order]:
        """Save orders; returns those not seen before (reading with an overlap is therefore harmless)."""
        new = []
        at = iso(now())
        for order in orders:
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO orders (order_id, member_id, buyer_name, created_at, status, "
                "recorded_at) VALUES (?, ?, ?, ?, ?, ?)",
                (order.order_id, order.member_id, order.buyer_name, iso(order.created_at), order.status, at),
            )
            if cursor.rowcount:
                new.append(order)
        return new

    def buyer_names(self) -> dict[str, str]:
        """member id → the buyer's name on their latest order here: the name this store matches links to."""
        rows = self._db.execute(
            "SELECT member_id, buyer_name FROM orders AS o WHERE created_at = "
            "(SELECT max(created_at) FROM orders WHERE member_id = o.member_id) ORDER BY order_id"
        )
        return {r["member_id"]: r["buyer_name"] for r in rows}

    def completed_counts(self) -> dict[str, int]:
        """member id → completed orders in this store."""
        marks = ",".join("?" * len(COMPLETED_STATUSES))
        rows = self._db.execute(
            f"SELECT member_id, count(*) AS n FROM orders WHERE lower(status) IN ({marks}) "  # noqa: S608
            "GROUP BY member_id",
            COMPLETED_STATUSES,
        )
        return {r["member_id"]: int(r["n"]) for r in rows}

    @property
    def watermark(self) -> datetime | None:
        """The newest order time read so far, kept as the backend gave it (naive or aware), so the next
        comparison is like for like."""
        return from_iso(self._db.get_meta(_WATERMARK))

    @watermark.setter
    def watermark(self, value: datetime) -> None:
        self._db.set_meta(_WATERMARK, value.isoformat())
