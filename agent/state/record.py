"""This seller's private record on the hub, as the agent keeps it in step (docs/safety.md, rule 10).

What the agent added automatically (`auto`) and the seller's allowlist (`allow`) are kept on the hub too,
private to this seller, so that a reinstall on an empty data dir neither pushes the agent's entries back as
the seller's reports nor re-adds a buyer the seller undid. The repositories of the blacklist and the
allowlist queue a change here in the same transaction as the change itself; the sync engine sends them.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.hub_models import RecordChange, valid_member_id
from agent.state.db import Database, iso, now

_RESTORED = "record_restored"


def queue_record_change(db: Database, list_: str, op: str, member_id: str, name: str | None) -> None:
    """Queue one change (the latest wish per list and buyer wins); ids the hub would refuse are not sent."""
    if not valid_member_id(member_id):
        return
    db.execute(
        "INSERT OR REPLACE INTO record_outbox (list, member_id, op, name, queued_at) VALUES (?, ?, ?, ?, ?)",
        (list_, member_id, op, name, iso(now())),
    )


@dataclass(frozen=True, slots=True)
class QueuedRecordChange:
    change: RecordChange
    queued_at: str


class RecordOutbox:
    def __init__(self, db: Database) -> None:
        self._db = db

    def items(self) -> list[QueuedRecordChange]:
        rows = self._db.execute("SELECT * FROM record_outbox ORDER BY queued_at, list, member_id")
        return [
            QueuedRecordChange(RecordChange(r["list"], r["op"], r["member_id"], r["name"]), r["queued_at"])
            for r in rows
        ]

    def delivered(self, items: list[QueuedRecordChange]) -> None:
        """Drop what the hub took (unless a newer wish replaced it meanwhile)."""
        self._db.conn.executemany(
            "DELETE FROM record_outbox WHERE list = ? AND member_id = ? AND op = ? AND queued_at = ?",
            [(i.change.list, i.change.member_id, i.change.op, i.queued_at) for i in items],
        )

    def count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM record_outbox").fetchone()[0])

    @property
    def restored(self) -> bool:
        """Whether this local state was brought in step with the hub's record (once per data dir)."""
        return self._db.get_meta(_RESTORED) is not None

    def mark_restored(self) -> None:
        self._db.set_meta(_RESTORED, iso(now()))
