"""Seed a hub database for the load benchmark, directly, with the hub's own models and services.

Going through HTTP would spend the seeding time in request overhead and the per-seller rate limit and
quota. Instead: sellers are created with `hub.sellers.create_seller` (real tokens), all reports are bulk
inserted into the `reports` table in one `INSERT` batch, then `hub.entries.refresh_entries` (what every
push runs) computes every entry with the hub's scoring and `hub.publish.publish_all` publishes them (the
change log), in one transaction. The result is what real pushes would have produced, with the change
history already compacted (one change per entry).

Shape: seller `s` reports its own block of `entries / sellers` buyers (so every buyer has an entry) plus
half as many again drawn at random from everyone's buyers, so about a third of the entries have two or more
reporters. Report dates spread over the last 60 days; reasons cycle through the fixed set.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import insert, text

from bench.hub_clients import REASONS, member_id
from hub.db import Database
from hub.entries import refresh_entries
from hub.models import Report, utcnow
from hub.publish import publish_all
from hub.scoring import Ageing
from hub.sellers import create_seller
from hub.settings import HubSettings

METHOD = "in-process: hub create_seller, bulk INSERT of reports, hub refresh_entries (one transaction each)"


@dataclass(frozen=True)
class Seeded:
    tokens: list[str]  # the reporting sellers' tokens
    extra_tokens: list[str]  # sellers with no reports yet (each benchmark snapshot uses a fresh one)
    reports: int
    method: str = METHOD


def seed(
    database_url: str,
    *,
    entries: int,
    sellers: int,
    extra_sellers: int,
    seed: int = 7,
    min_reporters: int = 1,
) -> Seeded:
    """Fill a migrated, empty hub database; returns the sellers' tokens.

    `min_reporters`: the publication threshold of the hub that will serve it (the benchmarks serve every
    entry: 1).
    """
    settings = HubSettings(database_url=database_url)
    ageing = Ageing(
        ttl=timedelta(days=settings.report_ttl_days), stale_after=timedelta(days=settings.report_stale_days)
    )
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
        rows: list[dict[str, Any]] = []
        for index in range(sellers):
            end = entries if index == sellers - 1 else min(entries, (index + 1) * block)
            picked = set(range(index * block, end)) | {rng.randrange(entries) for _ in range(block // 2)}
            rows += [
                {
                    "seller_id": ids[index],
                    "member_id": member_id(n),
                    "name": f"Buyer {n}",
                    "reason": REASONS[(n + index) % len(REASONS)],
                    "note": None,
                    "reported_at": now - timedelta(minutes=rng.randrange(60 * 24 * 60)),
                    "last_confirmed_at": now,
                    "filed_at": now,
                    "withdrawn_at": None,
                }
                for n in sorted(picked)
            ]
        with db.write() as session:
            session.execute(insert(Report), rows)
        with db.write() as session:
            refresh_entries(session, [member_id(n) for n in range(entries)], now, ageing)
            publish_all(session, now, min_reporters)
        # A hub that grew to this size has had its tables analysed (PostgreSQL's autovacuum, SQLite's
        # `PRAGMA optimize`); a bulk load measured at once has not, and PostgreSQL then plans the entry
        # aggregation over 500 member ids as a scan of every report (55 ms a query instead of a few).
        with db.engine.connect() as conn:
            conn.execute(text("ANALYZE"))
            conn.commit()
    finally:
        db.dispose()
    tokens = [token for _, token in created]
    return Seeded(tokens=tokens[:sellers], extra_tokens=tokens[sellers:], reports=len(rows))
