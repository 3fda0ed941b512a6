"""How an entry is computed from the reports about one buyer (pure functions, no database).

A report *counts* when it is not withdrawn, its seller is enabled with a standing above 0, it was confirmed
(created, or re-sent in an upsert or snapshot) within the last `report_ttl_days`, and the buyer is not in
its seller's own `auto` record (the seller's agent added that buyer from the feed: reporting it back would
amplify one report into many; see `hub.records`). From the counting reports:

- `reporters` = their number (one report per seller and buyer, so: distinct sellers); `weight` = the sum of
  their sellers' standings (0..1 each, default 1), so a fractional standing weighs fractionally;
- each report weighs `standing × freshness` in the score, where `freshness` is 1 while the report was
  confirmed within `report_stale_days`, 0.5 after;
- `score` = round(100 × (1 − 0.5^W)) with W the sum of these weights: every full-weight reporter halves the
  remaining doubt (1 reporter → 50, 2 → 75, 3 → 88, 4 → 94); 0 when W is 0;
- `reasons` = how many counting reports give each reason;
- `name` = the name most counting reports give, names compared normalised (NFC, case-folded); ties go to
  the name first filed on the hub (the lowest report id: a seller can neither backdate nor re-file its way
  to the front). It is shown as that earliest report spells it, never rewritten, so no single seller sets
  it and re-confirming changes nothing;
- first/last reported = the UTC days (midnight) of the earliest and latest `reported_at`: never an instant
  that would tie one seller's reports together.

No counting report means no entry (the feed shows a tombstone). Because weights depend on report age, an
entry also changes with time alone: `next_review_at` says when, and the expiry sweep recomputes it then.
`hub.entries` computes the same `Summary` in SQL (`GROUP BY`) for many buyers at once; `aggregate` is the
reference over plain report facts.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

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
    own_auto: bool = False  # the buyer is in this seller's own `auto` record


@dataclass(frozen=True)
class Aggregate:
    name: str
    reporters: int
    score: int
    reasons: dict[str, int]
    first_reported_at: datetime
    last_reported_at: datetime
    next_review_at: datetime | None
    weight: float = 0.0


@dataclass
class Summary:
    """The counting reports about one buyer, summed up (in SQL by `hub.entries`, or by `aggregate`)."""

    reporters: int = 0
    weight: float = 0.0  # sum of standings
    scored: float = 0.0  # sum of standing × freshness
    first_reported_at: datetime | None = None
    last_reported_at: datetime | None = None
    oldest_fresh_confirmation: datetime | None = None
    oldest_stale_confirmation: datetime | None = None
    reasons: dict[str, int] = field(default_factory=dict)
    spellings: list[tuple[str, int, int]] = field(default_factory=list)  # (name, reports, first report id)


def name_key(name: str) -> str:
    """How names are compared (never how they are stored): NFC, case-folded."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", name).casefold())


def majority_name(spellings: Iterable[tuple[str, int, int]]) -> str:
    """The name most reports give (compared by `name_key`); ties: the one first filed, as it spelled it."""
    groups: dict[str, tuple[int, int, str]] = {}  # key -> (reports, first id, spelling of the first id)
    for name, count, first_id in spellings:
        key = name_key(name)
        total, first, spelled = groups.get(key, (0, first_id, name))
        if first_id < first or (first_id == first and total == 0):
            first, spelled = first_id, name
        groups[key] = (total + count, first, spelled)
    if not groups:
        return ""
    _count, _first, spelled = min(groups.values(), key=lambda g: (-g[0], g[1]))
    return spelled


def day_of(value: datetime) -> datetime:
    """Midnight (UTC) of the day of `value`: the only precision the hub serves."""
    return datetime.combine(value.date(), time(0), tzinfo=value.tzinfo)


def counts(report: ReportFacts, now: datetime, ageing: Ageing) -> bool:
    return (
        not report.withdrawn
        and report.seller_enabled
        and report.standing > 0
        and not report.own_auto
        and report.last_confirmed_at > now - ageing.ttl
    )


def standing_of(value: float) -> float:
    return max(0.0, min(1.0, value))


def weight(report: ReportFacts, now: datetime, ageing: Ageing) -> float:
    fresh = report.last_confirmed_at > now - ageing.stale_after
    return standing_of(report.standing) * (1.0 if fresh else STALE_WEIGHT)


def score_from_weight(total: float) -> int:
    if total <= 1e-9:
        return 0
    score: int = round(100 * (1 - 0.5 ** round(total, 6)))
    return max(0, min(100, score))


def finish(summary: Summary, ageing: Ageing) -> Aggregate | None:
    """The entry from the summary of its counting reports; None when nothing counts."""
    if summary.reporters == 0 or summary.first_reported_at is None or summary.last_reported_at is None:
        return None
    reviews = []
    if summary.oldest_fresh_confirmation is not None:
        reviews.append(summary.oldest_fresh_confirmation + ageing.stale_after)
    if summary.oldest_stale_confirmation is not None:
        reviews.append(summary.oldest_stale_confirmation + ageing.ttl)
    return Aggregate(
        name=majority_name(summary.spellings),
        reporters=summary.reporters,
        score=score_from_weight(summary.scored),
        reasons=dict(sorted(summary.reasons.items())),
        first_reported_at=day_of(summary.first_reported_at),
        last_reported_at=day_of(summary.last_reported_at),
        next_review_at=min(reviews) if reviews else None,
        weight=round(summary.weight, 6),
    )


def earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    """The earlier of two times, either of which may be missing."""
    return b if a is None or (b is not None and b < a) else a


def latest(a: datetime | None, b: datetime | None) -> datetime | None:
    """The later of two times, either of which may be missing."""
    return b if a is None or (b is not None and b > a) else a


def aggregate(reports: Iterable[ReportFacts], now: datetime, ageing: Ageing) -> Aggregate | None:
    """The reference computation over plain report facts (what `hub.entries` does in SQL)."""
    summary = Summary()
    names: dict[str, tuple[int, int]] = {}
    for report in reports:
        if not counts(report, now, ageing):
            continue
        summary.reporters += 1
        summary.weight += standing_of(report.standing)
        summary.scored += weight(report, now, ageing)
        summary.first_reported_at = earliest(summary.first_reported_at, report.reported_at)
        summary.last_reported_at = latest(summary.last_reported_at, report.reported_at)
        if report.last_confirmed_at > now - ageing.stale_after:
            summary.oldest_fresh_confirmation = earliest(
                summary.oldest_fresh_confirmation, report.last_confirmed_at
            )
        else:
            summary.oldest_stale_confirmation = earliest(
                summary.oldest_stale_confirmation, report.last_confirmed_at
            )
        summary.reasons[report.reason] = summary.reasons.get(report.reason, 0) + 1
        count, first = names.get(report.name, (0, report.order))
        names[report.name] = (count + 1, min(first, report.order))
    summary.spellings = [(name, count, first) for name, (count, first) in names.items()]
    return finish(summary, ageing)
