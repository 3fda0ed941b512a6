"""A seller's reports: batch upsert, full snapshot, withdrawal, and the daily budget of new reports.

Each call runs inside one write transaction (`Database.write`): the reports change with one bulk
`INSERT ... ON CONFLICT DO UPDATE`, then the entries whose reports changed are recomputed (`hub.entries`),
so a failure anywhere leaves the previous state whole.

The daily budget (`daily_new_reports`, kept per seller and UTC day in `seller_usage`) pays for every report
that changes what others see: a new report, a report re-filed after its withdrawal, and a change of reason
or name. Withdrawing is free, but filing again costs again, so churning (withdraw / re-file, flipping
reasons) is bounded by the budget like reporting. A confirmation (the same report sent again) is free and
rewrites the report at most once an hour (`CONFIRM_EVERY`), so re-sent snapshots cost reads, not writes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from hub.entries import refresh_entries
from hub.models import Entry, Report, Seller, SellerUsage
from hub.schemas import ReportIn
from hub.scoring import Ageing
from hub.sql import batches, one_of, upsert


class QuotaExceeded(Exception):
    """The request would take the seller over its quota of new reports for today."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Limits:
    ageing: Ageing
    daily_new_reports: int
    first_snapshot_allowance: int


@dataclass
class Outcome:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    withdrawn: int = 0
    deferred: int = 0  # existing entries left due for review, recomputed after the commit


# A request's reports always change in one transaction, but recomputing every entry they touch there would
# hold the hub-wide write lock for as long as that takes: a seller withdrawing 10,000 reports held it for
# seconds (on a loaded machine, tens of seconds), and every other seller's write waited. Beyond this many
# withdrawals, the rest of their entries are only marked due for review (`next_review_at = now`) and
# recomputed after the commit in batches of as many, each its own transaction (`hub.maintenance.sweep`),
# so other sellers' writes interleave. A crash between batches loses nothing: the expiry sweep finds the
# entries due. New and changed reports are always recomputed at once (they are bounded by the daily budget).
RECOMPUTE_AT_ONCE = 500


def day_start(now: datetime) -> datetime:
    return datetime.combine(now.date(), time(0), tzinfo=now.tzinfo)


CONFIRM_EVERY = timedelta(hours=1)


def used_today(session: Session, seller_id: int, now: datetime) -> int:
    stmt = select(SellerUsage.new_reports).where(
        SellerUsage.seller_id == seller_id, SellerUsage.day == now.date()
    )
    return int(session.execute(stmt).scalar_one_or_none() or 0)


def _charge(session: Session, seller_id: int, now: datetime, amount: int) -> None:
    row = session.get(SellerUsage, (seller_id, now.date()))
    if row is None:
        session.add(SellerUsage(seller_id=seller_id, day=now.date(), new_reports=amount))
    else:
        row.new_reports += amount
    session.flush()


def seconds_to_midnight(now: datetime) -> int:
    return max(1, math.ceil((day_start(now) + timedelta(days=1) - now).total_seconds()))


def quota_limit(seller: Seller, limits: Limits, *, snapshot: bool) -> int:
    if snapshot and seller.first_snapshot_at is None:
        return max(limits.daily_new_reports, limits.first_snapshot_allowance)
    return limits.daily_new_reports


def _existing(session: Session, seller_id: int, member_ids: Sequence[str] | None) -> dict[str, Any]:
    """The seller's current reports (plain rows through Core, from table columns: a snapshot may hold
    thousands)."""
    c = Report.__table__.c
    base = select(
        c.member_id, c.name, c.reason, c.note, c.reported_at, c.last_confirmed_at, c.filed_at, c.withdrawn_at
    ).where(c.seller_id == seller_id)
    if member_ids is None:
        return {r.member_id: r for r in session.execute(base)}
    found: dict[str, Any] = {}
    for part in batches(session, sorted(member_ids)):
        found |= {r.member_id: r for r in session.execute(base.where(one_of(session, c.member_id, part)))}
    return found


@dataclass
class Plan:
    """What a request will change, worked out from a read of the seller's reports (no lock needed)."""

    outcome: Outcome
    rows: list[dict[str, Any]]  # reports to insert or update
    confirmed: list[str]  # unchanged reports whose confirmation time is due to move
    touched: set[str]  # reports that change: their entries are recomputed
    gone: list[str]  # a snapshot's withdrawals
    cost: int  # of the daily budget: new, re-filed, re-reasoned or renamed reports


def plan_reports(
    session: Session, seller_id: int, reports: Sequence[ReportIn], now: datetime, *, snapshot: bool
) -> Plan:
    """The changes the request makes to the seller's reports; reads only.

    The API plans in a read transaction, refuses an over-budget request there, and applies the plan in the
    write transaction: the hub-wide write lock is held for the writing only. Only the seller's own requests
    change its reports, and the API lets a seller have one write at a time, so the plan stays true.
    """
    ids = [r.member_id for r in reports]
    existing = _existing(session, seller_id, None if snapshot else ids)
    plan = Plan(Outcome(), [], [], set(), [], 0)
    outcome = plan.outcome
    for report in reports:
        old = existing.get(report.member_id)
        reported_at = min(report.reported_at or now, now)
        if old is None or old.withdrawn_at is not None:
            outcome.created += 1
            plan.cost += 1
            filed_at = now
        else:
            filed_at = old.filed_at
            if report.reported_at is None:
                reported_at = old.reported_at
            same = (old.name, old.reason, old.note, old.reported_at) == (
                report.name,
                report.reason,
                report.note,
                reported_at,
            )
            if same:
                outcome.unchanged += 1
                if old.last_confirmed_at <= now - CONFIRM_EVERY:
                    plan.confirmed.append(report.member_id)
                continue
            outcome.updated += 1
            if (old.name, old.reason) != (report.name, report.reason):
                plan.cost += 1
        plan.touched.add(report.member_id)
        plan.rows.append(
            {
                "seller_id": seller_id,
                "member_id": report.member_id,
                "name": report.name,
                "reason": report.reason,
                "note": report.note,
                "reported_at": reported_at,
                "last_confirmed_at": now,
                "filed_at": filed_at,
                "withdrawn_at": None,
            }
        )
    if snapshot:
        kept = set(ids)
        plan.gone = [m for m, r in existing.items() if r.withdrawn_at is None and m not in kept]
    return plan


def check_budget(
    session: Session, seller: Seller, plan: Plan, now: datetime, limits: Limits, *, snapshot: bool
) -> None:
    """Raise QuotaExceeded when the plan does not fit today's budget."""
    _check_quota(session, seller, plan.cost, now, quota_limit(seller, limits, snapshot=snapshot))


def apply_plan(
    session: Session,
    seller: Seller,
    plan: Plan,
    now: datetime,
    limits: Limits,
    *,
    snapshot: bool,
    defer: bool = True,
) -> Outcome:
    """Write the plan (inside the write transaction); raises QuotaExceeded before changing anything.

    With `defer`, entries beyond `RECOMPUTE_AT_ONCE` are left due for review (`Outcome.deferred`): the
    caller recomputes them after the commit (`HubContext.recompute_due`)."""
    check_budget(session, seller, plan, now, limits, snapshot=snapshot)
    outcome = plan.outcome
    if plan.cost:
        _charge(session, seller.id, now, plan.cost)
    upsert(
        session,
        Report,
        ["seller_id", "member_id"],
        ["name", "reason", "note", "reported_at", "last_confirmed_at", "filed_at", "withdrawn_at"],
        plan.rows,
    )
    for part in batches(session, sorted(plan.confirmed)):
        session.execute(
            update(Report)
            .where(Report.seller_id == seller.id, one_of(session, Report.member_id, part))
            .values(last_confirmed_at=now)
            .execution_options(synchronize_session=False)
        )
    touched = plan.touched | set(plan.confirmed)  # a stale report confirmed again weighs more
    withdrawn: list[str] = []
    if snapshot:
        outcome.withdrawn = _withdraw(session, seller.id, plan.gone, now)
        withdrawn = sorted(set(plan.gone) - touched)
        if seller.first_snapshot_at is None:
            seller.first_snapshot_at = now
    at_once = RECOMPUTE_AT_ONCE if defer else len(withdrawn)
    now_too, later = withdrawn[:at_once], withdrawn[at_once:]
    marked = _mark_due(session, later, now)
    now_too += [m for m in later if m not in marked]  # no entry to mark: compute it now
    refresh_entries(session, [*touched, *now_too], now, limits.ageing)
    outcome.deferred = len(marked)
    return outcome


def _mark_due(session: Session, member_ids: Sequence[str], now: datetime) -> set[str]:
    """Leave these entries due for review (`next_review_at = now`); returns those that exist.

    Only withdrawals are deferred: they are free, so a churning seller can withdraw 10,000 reports at a
    time, while new and changed reports are bounded by the daily budget (and deferring them made an honest
    first snapshot slower: the extra transactions cost more than they spread)."""
    marked: set[str] = set()
    for part in batches(session, member_ids):
        marked.update(
            session.execute(
                update(Entry)
                .where(one_of(session, Entry.member_id, part))
                .values(next_review_at=now)
                .returning(Entry.member_id)
                .execution_options(synchronize_session=False)
            ).scalars()
        )
    return marked


def store_reports(
    session: Session,
    seller: Seller,
    reports: Sequence[ReportIn],
    now: datetime,
    limits: Limits,
    *,
    snapshot: bool,
) -> Outcome:
    """Upsert the seller's reports (all of them when `snapshot`, withdrawing the rest); confirms each one.

    Plans and applies in one transaction. Raises QuotaExceeded, before changing anything, when the new,
    re-filed and re-reasoned (or renamed) reports do not fit today's budget.
    """
    plan = plan_reports(session, seller.id, reports, now, snapshot=snapshot)
    return apply_plan(session, seller, plan, now, limits, snapshot=snapshot, defer=False)


def _check_quota(session: Session, seller: Seller, new: int, now: datetime, limit: int) -> None:
    if new == 0:
        return
    used = used_today(session, seller.id, now)
    if used + new > limit:
        raise QuotaExceeded(
            f"daily quota of new reports exceeded: {new} new, re-filed or changed, {used} already used today,"
            f" limit {limit}",
            retry_after=seconds_to_midnight(now),
        )


def _withdraw(session: Session, seller_id: int, member_ids: Sequence[str], now: datetime) -> int:
    count = 0
    for part in batches(session, sorted(member_ids)):
        result = session.execute(
            update(Report)
            .where(
                Report.seller_id == seller_id,
                one_of(session, Report.member_id, part),
                Report.withdrawn_at.is_(None),
            )
            .values(withdrawn_at=now)
            .execution_options(synchronize_session=False)
        )
        count += int(getattr(result, "rowcount", 0) or 0)
    return count


def withdraw_report(session: Session, seller: Seller, member_id: str, now: datetime, ageing: Ageing) -> bool:
    """Withdraw one of the seller's own reports; False when it has no such (unwithdrawn) report."""
    if _withdraw(session, seller.id, [member_id], now) == 0:
        return False
    refresh_entries(session, [member_id], now, ageing)
    return True


def seller_report_counts(session: Session, seller_id: int, now: datetime, ageing: Ageing) -> tuple[int, int]:
    """(reports not withdrawn, of which still confirmed within the TTL)."""
    active = Report.withdrawn_at.is_(None)
    total = session.execute(select(func.count()).where(Report.seller_id == seller_id, active)).scalar_one()
    live = session.execute(
        select(func.count()).where(
            Report.seller_id == seller_id, active, Report.last_confirmed_at > now - ageing.ttl
        )
    ).scalar_one()
    return int(total), int(live)
