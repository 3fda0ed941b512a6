"""How an entry is computed from the reports about one buyer (pure functions, no database).

A report *counts* when it is not withdrawn, its seller is enabled, and it was confirmed (created, or re-sent
in an upsert or snapshot) within the last `report_ttl_days`. From the counting reports:

- `reporters` = their number (one report per seller and buyer, so: distinct sellers);
- each report weighs `standing × freshness`, where `standing` (0..1, default 1) is the seller's standing set
  by the operator and `freshness` is 1 while the report was confirmed within `report_stale_days`, 0.5 after;
- `score` = round(100 × (1 − 0.5^W)) with W the sum of the weights: every full-weight reporter halves the
  remaining doubt (1 reporter → 50, 2 → 75, 3 → 88, 4 → 94); 0 when W is 0;
- `reasons` = how many counting reports give each reason; `name` = the name in the most recently confirmed
  report (ties: the most recently reported, then the last filed); first/last reported = min/max of their
  `reported_at`.

No counting report means no entry (the feed shows a tombstone). Because weights depend on report age, an
entry also changes with time alone: `next_review_at` says when, and the expiry sweep recomputes it then.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

STALE_WEIGHT = 0.5


@dataclass(frozen=True)
class Ageing:
    ttl: timedelta
    stale_after: timedelta


@dataclass(frozen=True)
class ReportFacts:
    """What scoring needs to know about one report and its seller."""

    name: str
    reason: str
    reported_at: datetime
    last_confirmed_at: datetime
    seller_enabled: bool
    standing: float
    withdrawn: bool = False
    order: int = 0  # tie-breaker: later-filed reports have a higher order (the row id)


@dataclass(frozen=True)
class Aggregate:
    name: str
    reporters: int
    score: int
    reasons: dict[str, int]
    first_reported_at: datetime
    last_reported_at: datetime
    next_review_at: datetime | None


def counts(report: ReportFacts, now: datetime, ageing: Ageing) -> bool:
    return not report.withdrawn and report.seller_enabled and report.last_confirmed_at > now - ageing.ttl


def weight(report: ReportFacts, now: datetime, ageing: Ageing) -> float:
    fresh = report.last_confirmed_at > now - ageing.stale_after
    return max(0.0, min(1.0, report.standing)) * (1.0 if fresh else STALE_WEIGHT)


def score_from_weight(total: float) -> int:
    if total <= 0:
        return 0
    score: int = round(100 * (1 - 0.5**total))
    return max(0, min(100, score))


def next_transition(report: ReportFacts, now: datetime, ageing: Ageing) -> datetime:
    """When this counting report next changes weight: it turns stale, or it expires."""
    stale_at = report.last_confirmed_at + ageing.stale_after
    return stale_at if stale_at > now else report.last_confirmed_at + ageing.ttl


def _count_reasons(reports: list[ReportFacts]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for report in reports:
        counts[report.reason] = counts.get(report.reason, 0) + 1
    return dict(sorted(counts.items()))


def aggregate(reports: Iterable[ReportFacts], now: datetime, ageing: Ageing) -> Aggregate | None:
    live = [r for r in reports if counts(r, now, ageing)]
    if not live:
        return None
    newest = max(live, key=lambda r: (r.last_confirmed_at, r.reported_at, r.order))
    return Aggregate(
        name=newest.name,
        reporters=len(live),
        score=score_from_weight(sum(weight(r, now, ageing) for r in live)),
        reasons=_count_reasons(live),
        first_reported_at=min(r.reported_at for r in live),
        last_reported_at=max(r.reported_at for r in live),
        next_review_at=min(next_transition(r, now, ageing) for r in live),
    )
