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


def test_reasons_are_counted_and_days_are_served_never_instants() -> None:
    agg = aggregate(
        [facts(5.3, reason="fraud"), facts(1.2, reason="chargeback"), facts(3, reason="fraud")], NOW, AGEING
    )
    assert agg is not None
    assert agg.reasons == {"chargeback": 1, "fraud": 2}
    assert (agg.first_reported_at, agg.last_reported_at) == (
        datetime(2026, 11, 14, tzinfo=UTC),
        datetime(2026, 11, 18, tzinfo=UTC),
    )


def named(name: str, order: int, days_ago: float = 1) -> ReportFacts:
    at = NOW - timedelta(days=days_ago)
    return ReportFacts(name, "fraud", at, at, True, 1.0, order=order)


def test_the_name_most_reporters_give_wins_and_ties_go_to_the_first_filed() -> None:
    majority = aggregate(
        [named("Tom Smith", 2), named("Tom Smlth", 1, days_ago=0), named("TOM SMITH", 3)], NOW, AGEING
    )
    assert majority is not None
    assert majority.name == "Tom Smith"
    # A tie: the name filed first on the hub, whatever `reported_at` a seller claims.
    tie = aggregate([named("Tom Smith", 1), named("Tom Smlth", 2, days_ago=900)], NOW, AGEING)
    assert tie is not None
    assert tie.name == "Tom Smith"


def test_standing_zero_and_own_automatic_entries_count_for_nothing() -> None:
    zero = ReportFacts("Jane", "fraud", NOW, NOW, True, 0.0)
    own_auto = ReportFacts("Jane", "fraud", NOW, NOW, True, 1.0, own_auto=True)
    agg = aggregate([facts(1), zero, own_auto], NOW, AGEING)
    assert agg is not None
    assert (agg.reporters, agg.weight, agg.score) == (1, 1.0, 50)
    half = aggregate([facts(1), facts(1, standing=0.5)], NOW, AGEING)
    assert half is not None
    assert half.weight == 1.5


def test_next_review_is_when_the_first_report_turns_stale_or_expires() -> None:
    agg = aggregate([facts(10), facts(100)], NOW, AGEING)
    assert agg is not None
    # the 100-day-old report expires at day 180 (80 days on); the 10-day-old turns stale at day 90 (80 too)
    assert agg.next_review_at == NOW + timedelta(days=80)
    agg = aggregate([facts(120)], NOW, AGEING)
    assert agg is not None
    assert agg.next_review_at == NOW + timedelta(days=60)
