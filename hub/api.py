"""The `/v1` routes (but the feed, see `hub.feed_api`), `/healthz` and `/metrics` (contract: docs/hub-api.md).

Handlers are plain `def`s: FastAPI runs them in its thread pool, where the synchronous SQLAlchemy sessions
belong. Authentication: `Authorization: Bearer <token>`, looked up by hash; 401 without a known token, 403
for a disabled seller, then the per-seller rate limit (429). Responses never name a reporter.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import StringConstraints
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.app import HubContext
from hub.feed import feed_state
from hub.lookup import lookup_entries
from hub.models import Entry, Report, Seller
from hub.ratelimit import retry_after_header
from hub.records import RecordFull, apply_changes, read_record
from hub.reports import (
    Outcome,
    apply_plan,
    check_budget,
    plan_reports,
    quota_limit,
    seller_report_counts,
    used_today,
    withdraw_report,
)
from hub.schemas import (
    MEMBER_ID_PATTERN,
    AllowItem,
    AutoItem,
    EntryOut,
    ErrorOut,
    Health,
    LookupResult,
    Me,
    Quota,
    RecordApplied,
    RecordChanges,
    RecordOut,
    ReportBatch,
    ReportIn,
    ReportSnapshot,
    SnapshotResult,
    UpsertResult,
    Withdrawn,
)
from hub.sellers import Identity, authenticate

logger = logging.getLogger(__name__)

MAX_CURSOR = 2**62  # cursors are opaque; full-pull continuations are above 2**48

_bearer = HTTPBearer(auto_error=False, description="The seller token printed by `blacklist-hub seller add`.")

AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "No token, or an unknown one."},
    403: {"model": ErrorOut, "description": "The seller is disabled."},
    429: {"model": ErrorOut, "description": "Rate limit or daily quota exceeded; see Retry-After."},
}
WRITE_RESPONSES: dict[int | str, dict[str, Any]] = {
    **AUTH_RESPONSES,
    400: {"model": ErrorOut, "description": "The body could not be read as JSON."},
    413: {"model": ErrorOut, "description": "Request body over the size limit."},
}

router = APIRouter()


async def hub_context(request: Request) -> HubContext:
    # async: no thread-pool hop for a dependency that does no I/O
    ctx: HubContext = request.app.state.hub
    return ctx


Ctx = Annotated[HubContext, Depends(hub_context)]


@dataclass(frozen=True)
class Caller:
    id: int
    name: str
    store_id: str


Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


_UNAUTHORIZED = {"WWW-Authenticate": "Bearer"}


def bearer_token(credentials: HTTPAuthorizationCredentials | None) -> str:
    """The token sent, or HTTPException 401."""
    if credentials is None or not credentials.credentials:
        raise HTTPException(401, "missing bearer token", headers=_UNAUTHORIZED)
    return credentials.credentials


def authorize(ctx: HubContext, session: Session, credentials: HTTPAuthorizationCredentials | None) -> Caller:
    """The calling seller, or HTTPException 401 / 403 / 429."""
    return admit(ctx, authenticate(session, bearer_token(credentials)))


def admit(ctx: HubContext, seller: Identity | None) -> Caller:
    """The seller a token was looked up as, or HTTPException 401 (unknown) / 403 (disabled) / 429."""
    if seller is None:
        raise HTTPException(401, "unknown token", headers=_UNAUTHORIZED)
    if not seller.enabled:
        raise HTTPException(403, "this seller is disabled on the hub")
    wait = ctx.rate_limiter.acquire(seller.id)
    if wait > 0:
        ctx.metrics.count("rate_limited")
        raise HTTPException(429, "rate limit exceeded", headers={"Retry-After": retry_after_header(wait)})
    return Caller(seller.id, seller.name, seller.store_id)


def current_seller(ctx: Ctx, credentials: Credentials) -> Caller:
    with ctx.db.read() as session:
        return authorize(ctx, session, credentials)


CurrentSeller = Annotated[Caller, Depends(current_seller)]


def _last_per_member(reports: list[ReportIn]) -> list[ReportIn]:
    """The same member id twice in one request: the last one wins (as if sent one after the other)."""
    latest = {report.member_id: report for report in reports}
    return list(latest.values()) if len(latest) < len(reports) else reports


def charge_writes(ctx: HubContext, caller: Caller, items: int) -> None:
    """Take `items` from the seller's write budget (`write_items_per_minute`), or HTTPException 429."""
    wait = ctx.write_limiter.acquire(caller.id, cost=max(1, items))
    if wait > 0:
        ctx.metrics.count("write_budget_refused")
        raise HTTPException(
            429,
            "write budget exceeded: too many items written",
            headers={"Retry-After": retry_after_header(wait)},
        )


def _store(ctx: HubContext, caller: Caller, reports: list[ReportIn], *, snapshot: bool) -> Outcome:
    reports = _last_per_member(reports)
    charge_writes(ctx, caller, len(reports))
    now = ctx.now()
    with ctx.one_write_per_seller(caller.id):
        with ctx.db.read() as session:  # the heavy reading, without the hub-wide write lock
            plan = plan_reports(session, caller.id, reports, now, snapshot=snapshot)
            seller = session.get_one(Seller, caller.id)
            check_budget(session, seller, plan, now, ctx.limits, snapshot=snapshot)
        with ctx.db.write() as session:
            seller = session.get_one(Seller, caller.id)
            outcome = apply_plan(session, seller, plan, now, ctx.limits, snapshot=snapshot)
        if outcome.deferred:  # still this seller's one write: its next waits until the entries converge
            ctx.recompute_due()
    if outcome.withdrawn:  # known only now: a snapshot's withdrawals are paid after the fact
        ctx.write_limiter.charge(caller.id, outcome.withdrawn)
    ctx.metrics.count("reports_created", outcome.created)
    logger.info(
        "seller %d %s: %d created, %d updated, %d unchanged, %d withdrawn",
        caller.id,
        "snapshot" if snapshot else "upsert",
        outcome.created,
        outcome.updated,
        outcome.unchanged,
        outcome.withdrawn,
    )
    return outcome


@router.post("/v1/reports", response_model=UpsertResult, responses=WRITE_RESPONSES, tags=["reports"])
def post_reports(body: ReportBatch, ctx: Ctx, caller: CurrentSeller) -> UpsertResult:
    """Add or update (and confirm) up to 1,000 of the caller's reports. Idempotent."""
    outcome = _store(ctx, caller, body.reports, snapshot=False)
    return UpsertResult(created=outcome.created, updated=outcome.updated, unchanged=outcome.unchanged)


@router.put("/v1/reports", response_model=SnapshotResult, responses=WRITE_RESPONSES, tags=["reports"])
def put_reports(body: ReportSnapshot, ctx: Ctx, caller: CurrentSeller) -> SnapshotResult:
    """Replace the caller's whole set of reports, atomically; reports missing from it are withdrawn."""
    outcome = _store(ctx, caller, body.reports, snapshot=True)
    return SnapshotResult(
        created=outcome.created,
        updated=outcome.updated,
        unchanged=outcome.unchanged,
        withdrawn=outcome.withdrawn,
    )


MemberIdPath = Annotated[str, Path(pattern=MEMBER_ID_PATTERN)]
MemberIdQuery = Annotated[str, StringConstraints(pattern=MEMBER_ID_PATTERN)]
MAX_LOOKUP = 50


@router.delete(
    "/v1/reports/{member_id}",
    response_model=Withdrawn,
    responses={**AUTH_RESPONSES, 404: {"model": ErrorOut, "description": "The caller has no such report."}},
    tags=["reports"],
)
def delete_report(member_id: MemberIdPath, ctx: Ctx, caller: CurrentSeller) -> Withdrawn:
    """Withdraw the caller's own report about a buyer."""
    charge_writes(ctx, caller, 1)
    with ctx.one_write_per_seller(caller.id), ctx.db.write() as session:
        seller = session.get_one(Seller, caller.id)
        done = withdraw_report(session, seller, member_id, ctx.now(), ctx.ageing)
    if not done:
        raise HTTPException(404, "you have no report about this member id")
    return Withdrawn(withdrawn=True)


@router.get(
    "/v1/entries/{member_id}",
    response_model=EntryOut,
    responses={**AUTH_RESPONSES, 404: {"model": ErrorOut, "description": "No live entry for this buyer."}},
    tags=["feed"],
)
def get_entry(member_id: MemberIdPath, ctx: Ctx, caller: CurrentSeller) -> Response:
    """The pooled entry about one buyer (counts, score and reasons; never who reported it)."""
    ctx.maybe_sweep()
    with ctx.db.read() as session:
        stmt = select(Entry.payload).where(Entry.member_id == member_id, Entry.live.is_(True))
        payload = session.execute(stmt).scalar_one_or_none()
    if payload is None:
        raise HTTPException(404, "no entry for this member id")
    return Response(payload.encode(), media_type="application/json")


@router.get(
    "/v1/lookup",
    response_model=LookupResult,
    responses=AUTH_RESPONSES,
    tags=["feed"],
)
def lookup(
    ctx: Ctx,
    caller: CurrentSeller,
    member_id: Annotated[list[MemberIdQuery], Query(min_length=1, max_length=MAX_LOOKUP)],
) -> LookupResult:
    """Check buyers before shipping: the entry of each one with at least one counting report, published
    in the feed or not, and whether the caller's own report is among them. Limited per seller (one token
    per member id, `lookup_per_minute`)."""
    ids = sorted(set(member_id))
    wait = ctx.lookup_limiter.acquire(caller.id, cost=len(ids))
    if wait > 0:
        ctx.metrics.count("lookup_refused")
        raise HTTPException(429, "lookup limit exceeded", headers={"Retry-After": retry_after_header(wait)})
    ctx.maybe_sweep()
    with ctx.db.read() as session:
        return LookupResult(entries=lookup_entries(session, caller.id, ids, ctx.now(), ctx.ageing))


@router.get("/v1/me/record", response_model=RecordOut, responses=AUTH_RESPONSES, tags=["sellers"])
def get_record(ctx: Ctx, caller: CurrentSeller) -> RecordOut:
    """The caller's private record: buyers its agent added automatically, and its allowlist."""
    with ctx.db.read() as session:
        record = read_record(session, caller.id)
    return RecordOut(
        auto=[AutoItem(member_id=r.member_id, name=r.name) for r in record["auto"]],
        allow=[AllowItem(member_id=r.member_id) for r in record["allow"]],
    )


@router.post(
    "/v1/me/record",
    response_model=RecordApplied,
    responses=WRITE_RESPONSES,
    tags=["sellers"],
)
def post_record(body: RecordChanges, ctx: Ctx, caller: CurrentSeller) -> RecordApplied:
    """Add to or remove from the caller's private record (1..500 changes, in order). Idempotent.

    422 also when a list would hold more than `record_max_items`."""
    charge_writes(ctx, caller, len(body.changes))
    try:
        with ctx.one_write_per_seller(caller.id), ctx.db.write() as session:
            applied = apply_changes(
                session,
                caller.id,
                body.changes,
                ctx.now(),
                ctx.ageing,
                max_items=ctx.settings.record_max_items,
            )
    except RecordFull as exc:  # a 422 of the usual validation shape, naming the body's changes
        error = {"type": "value_error", "loc": ("body", "changes"), "msg": str(exc), "input": None}
        raise RequestValidationError([error]) from None
    return RecordApplied(applied=applied)


@router.get("/v1/me", response_model=Me, responses=AUTH_RESPONSES, tags=["sellers"])
def get_me(ctx: Ctx, caller: CurrentSeller) -> Me:
    """The caller's own counts, today's quota and standing."""
    now = ctx.now()
    with ctx.db.read() as session:
        seller = session.get_one(Seller, caller.id)
        total, live = seller_report_counts(session, seller.id, now, ctx.ageing)
        used = used_today(session, seller.id, now)
    daily = ctx.limits.daily_new_reports
    first = quota_limit(seller, ctx.limits, snapshot=True) if seller.first_snapshot_at is None else 0
    return Me(
        name=seller.name,
        store_id=seller.store_id,
        reports=total,
        live_reports=live,
        quota=Quota(
            daily_new_reports=daily,
            used_today=used,
            remaining_today=max(0, daily - used),
            first_snapshot_allowance=first,
        ),
        standing=seller.standing,
    )


@router.get(
    "/healthz",
    response_model=Health,
    responses={503: {"model": Health, "description": "The database does not answer."}},
    tags=["operations"],
)
def healthz(ctx: Ctx) -> Any:
    """Liveness and database check (no authentication)."""
    try:
        ctx.db.ping()
    except Exception as exc:
        logger.warning("health check: database unavailable (%s)", type(exc).__name__)
        return JSONResponse({"status": "unavailable", "database": "unavailable"}, status_code=503)
    return Health(status="ok", database="ok")


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses={401: {"model": ErrorOut, "description": "The hub wants its metrics token."}},
    tags=["operations"],
)
def metrics(ctx: Ctx, request: Request) -> PlainTextResponse:
    """Prometheus text format: request counters and hub-wide gauges. Wants `Authorization: Bearer <token>`
    when the operator set `BLACKLIST_HUB_METRICS_TOKEN`."""
    expected = ctx.settings.metrics_token
    if expected is not None:
        # Read by hand: declaring the bearer scheme would tell clients that sellers' tokens open it.
        scheme, _, sent = request.headers.get("authorization", "").partition(" ")
        matches = hmac.compare_digest(sent.strip().encode(), expected.get_secret_value().encode())
        if scheme.lower() != "bearer" or not matches:
            raise HTTPException(401, "the metrics token is required", headers=_UNAUTHORIZED)
    gauges: dict[str, tuple[str, float]] = {}
    try:
        now = ctx.now()
        with ctx.db.read() as session:
            state = feed_state(session)
            live_entries = session.execute(select(func.count()).where(Entry.live.is_(True))).scalar_one()
            by_state = select(Seller.enabled, func.count()).group_by(Seller.enabled)
            sellers: dict[bool, int] = {row[0]: row[1] for row in session.execute(by_state)}
            live_reports = session.execute(
                select(func.count()).where(
                    Report.withdrawn_at.is_(None), Report.last_confirmed_at > now - ctx.ageing.ttl
                )
            ).scalar_one()
        gauges = {
            "database_up": ("1 when the database answered this scrape.", 1),
            "entries_live": ("Buyers in the feed (enough counting reporters).", live_entries),
            "reports_live": ("Reports not withdrawn and confirmed within the TTL.", live_reports),
            "sellers_enabled": ("Enabled sellers.", sellers.get(True, 0)),
            "sellers_disabled": ("Disabled sellers.", sellers.get(False, 0)),
            "feed_last_seq": ("Last sequence number of the change log.", state.last_seq),
        }
    except Exception as exc:
        logger.warning("metrics: database unavailable (%s)", type(exc).__name__)
        gauges = {"database_up": ("1 when the database answered this scrape.", 0)}
    return PlainTextResponse(ctx.metrics.render(gauges), media_type="text/plain; version=0.0.4")
