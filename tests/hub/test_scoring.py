"""The score formula and report ageing, as pure functions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hub.scoring import Ageing, ReportFacts, aggregate, score_from_weight

NOW = datetime(2026, 11, 20, tzinfo=UTC)
AGEING = Ageing(ttl=timedelta(days=180), stale_after=timedelta(days=90))


def facts(
    days_ago: float = 0,
    *,
    standing: float = 1.0,
    enabled: bool = True,
    name: str = "Jane",
    reason: str = "fraud",
) -> ReportFacts:
    at = NOW - timedelta(days=days_ago)
    return ReportFacts(name, reason, at, at, enabled, standing)


def test_each_full_weight_reporter_halves_the_remaining_doubt() -> None:
    assert [score_from_weight(w) for w in (0, 1, 2, 3, 4)] == [0, 50, 75, 88, 94]


def test_stale_reports_weigh_half() -> None:
    fresh = aggregate([facts(10)], NOW, AGEING)
    stale = aggregate([facts(100)], NOW, AGEING)
    assert fresh is not None
    assert stale is not None
    assert (fresh.score, stale.score) == (50, 29)
    assert stale.reporters == 1


def test_low_standing_seller_weighs_less() -> None:
    agg = aggregate([facts(1, standing=0.5), facts(1)], NOW, AGEING)
    assert agg is not None
    assert (agg.reporters, agg.score) == (2, 65)


def test_expired_and_disabled_reports_do_not_count() -> None:
    assert aggregate([facts(181), facts(1, enabled=False)], NOW, AGEING) is None


def test_reasons_are_counted_and_the_newest_name_wins() -> None:
    agg = aggregate(
        [
            facts(5, name="Old", reason="fraud"),
            facts(1, name="New", reason="chargeback"),
            facts(3, name="Mid", reason="fraud"),
        ],
        NOW,
        AGEING,
    )
    assert agg is not None
    assert agg.name == "New"
    assert agg.reasons == {"chargeback": 1, "fraud": 2}
    assert (agg.first_reported_at, agg.last_reported_at) == (NOW - timedelta(days=5), NOW - timedelta(days=1))


def test_next_review_is_when_the_first_report_turns_stale_or_expires() -> None:
    agg = aggregate([facts(10), facts(100)], NOW, AGEING)
    assert agg is not None
    # the 100-day-old report expires at day 180 (80 days on); the 10-day-old turns stale at day 90 (80 too)
    assert agg.next_review_at == NOW + timedelta(days=80)
    agg = aggregate([facts(120)], NOW, AGEING)
    assert agg is not None
    assert agg.next_review_at == NOW + timedelta(days=60)
