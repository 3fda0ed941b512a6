"""Seed a hub database for the load benchmark, directly through the hub's own services.

Going through HTTP would spend most of the seeding time in request overhead and the per-seller rate limit;
instead this calls what the API calls (`hub.sellers.create_seller`, `hub.reports.store_reports`, which
upserts reports and recomputes entries and the change log with the hub's scoring), many sellers per write
transaction. So the seeded database is exactly what real pushes would have produced.

Shape: seller `s` reports its own block of `entries / sellers` buyers (so every buyer has an entry) plus
half as many again drawn at random from everyone's buyers, so about a third of the entries have two or more
reporters. Report dates spread over the last 60 days; reasons cycle through the fixed set.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta

from bench.hub_clients import REASONS, member_id
from hub.db import Database
from hub.models import Seller, utcnow
from hub.reports import Limits, store_reports
from hub.schemas import ReportIn
from hub.scoring import Ageing
from hub.sellers import create_seller
from hub.settings import HubSettings

SELLERS_PER_TRANSACTION = 50
METHOD = "hub services in-process: create_seller + store_reports, 50 sellers per transaction"


@dataclass(frozen=True)
class Seeded:
    tokens: list[str]  # the reporting sellers' tokens
    extra_tokens: list[str]  # sellers with no reports yet (each benchmark snapshot uses a fresh one)
    reports: int
    method: str = METHOD


def seed(database_url: str, *, entries: int, sellers: int, extra_sellers: int, seed: int = 7) -> Seeded:
    """Fill a migrated, empty hub database; returns the sellers' tokens."""
    settings = HubSettings(database_url=database_url)
    ageing = Ageing(
        ttl=timedelta(days=settings.report_ttl_days), stale_after=timedelta(days=settings.report_stale_days)
    )
    # The seeding is the hub's history, not today's traffic: the daily quota does not apply to it.
    limits = Limits(ageing, daily_new_reports=entries, first_snapshot_allowance=entries)
    rng = random.Random(seed)
    now = utcnow()
    block = max(1, entries // sellers)
    db = Database(database_url)
    try:
        with db.write() as session:
            created = [
                create_seller(session, f"bench-seller-{i}", f"bench-store-{i}", now)
                for i in range(sellers + extra_sellers)
            ]
            ids = [seller.id for seller, _ in created]
        total = 0
        for start in range(0, sellers, SELLERS_PER_TRANSACTION):
            with db.write() as session:
                for index in range(start, min(sellers, start + SELLERS_PER_TRANSACTION)):
                    end = entries if index == sellers - 1 else min(entries, (index + 1) * block)
                    own = range(index * block, end)
                    picked = set(own) | {rng.randrange(entries) for _ in range(block // 2)}
                    reports = [
                        ReportIn(
                            member_id=member_id(n),
                            name=f"Buyer {n}",
                            reason=REASONS[(n + index) % len(REASONS)],
                            reported_at=now - timedelta(minutes=rng.randrange(60 * 24 * 60)),
                        )
                        for n in sorted(picked)
                    ]
                    seller = session.get_one(Seller, ids[index])
                    store_reports(session, seller, reports, now, limits, snapshot=False)
                    total += len(reports)
    finally:
        db.dispose()
    tokens = [token for _, token in created]
    return Seeded(tokens=tokens[:sellers], extra_tokens=tokens[sellers:], reports=total)
