"""A seller's private record: what its agent added automatically (`auto`) and its allowlist (`allow`).

The agent keeps both in its data dir; the hub keeps a copy, private to the seller (only `GET /v1/me/record`
with the seller's own token shows it, and no other answer depends on it except through the rule below), so
an agent reinstalled on an empty data dir restores them before it pushes anything.

The rule that makes the record matter: a report by seller S about buyer M does not count while M is in
S's `auto` list (S's agent blacklisted M because others reported it; pushing that back would turn their
reports into one more). When the seller removes M by hand, the agent sends `auto remove`, and a later
report by hand counts. Changing the `auto` list therefore recomputes the entries S reports.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from hub.entries import refresh_entries
from hub.models import Report, SellerRecord
from hub.schemas import RecordChange
from hub.scoring import Ageing
from hub.sql import batches, one_of, upsert


class RecordFull(ValueError):
    """The change would take a list of the record over `record_max_items`."""


def read_record(session: Session, seller_id: int) -> dict[str, list[SellerRecord]]:
    rows = session.execute(
        select(SellerRecord).where(SellerRecord.seller_id == seller_id).order_by(SellerRecord.member_id)
    ).scalars()
    record: dict[str, list[SellerRecord]] = {"auto": [], "allow": []}
    for row in rows:
        record.setdefault(row.list, []).append(row)
    return record


def apply_changes(
    session: Session,
    seller_id: int,
    changes: Sequence[RecordChange],
    now: datetime,
    ageing: Ageing,
    *,
    max_items: int,
) -> int:
    """Apply the changes in order (the last one per list and member id wins); returns how many were sent.

    Idempotent: adding what is there (a name is updated) or removing what is not changes nothing else.
    """
    final: dict[tuple[str, str], RecordChange] = {}
    for change in changes:
        final[(change.list, change.member_id)] = change
    adds = [c for c in final.values() if c.op == "add"]
    removes = [c for c in final.values() if c.op == "remove"]
    rows = [
        {"seller_id": seller_id, "list": c.list, "member_id": c.member_id, "name": c.name, "updated_at": now}
        for c in adds
    ]
    upsert(session, SellerRecord, ["seller_id", "list", "member_id"], ["name", "updated_at"], rows)
    for name in ("auto", "allow"):
        for part in batches(session, sorted(c.member_id for c in removes if c.list == name)):
            session.execute(
                delete(SellerRecord)
                .where(
                    SellerRecord.seller_id == seller_id,
                    SellerRecord.list == name,
                    one_of(session, SellerRecord.member_id, part),
                )
                .execution_options(synchronize_session=False)
            )
    for name in ("auto", "allow"):
        size = session.execute(
            select(func.count()).where(SellerRecord.seller_id == seller_id, SellerRecord.list == name)
        ).scalar_one()
        if size > max_items:
            raise RecordFull(f"the {name} list would hold {size} items, over the limit of {max_items}")
    auto_ids = sorted({c.member_id for c in final.values() if c.list == "auto"})
    reported: list[str] = []
    for part in batches(session, auto_ids):
        reported += session.execute(
            select(Report.member_id).where(
                Report.seller_id == seller_id,
                one_of(session, Report.member_id, part),
                Report.withdrawn_at.is_(None),
            )
        ).scalars()
    refresh_entries(session, reported, now, ageing)
    return len(changes)
