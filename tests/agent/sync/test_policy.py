"""The local policy: consensus before action, the seller wins, good customers are protected."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from agent.hub_models import SharedEntry
from agent.models import BlacklistOutcome
from agent.sync.policy import (
    Evictable,
    Policy,
    decide,
    eviction_victim,
    link_names,
    order_when_full,
    origin_after_link,
    passes,
    retractions,
)


def entry(member_id: str, reporters: int = 2, score: int = 50, **reasons: int) -> SharedEntry:
    return SharedEntry(member_id, f"Buyer {member_id}", reporters, score, reasons or {"fraud": reporters})


def test_two_reporters_pass_the_default_policy_and_one_does_not() -> None:
    assert passes(entry("x", reporters=2), Policy())
    assert not passes(entry("y", reporters=1), Policy())


def test_min_score_is_applied_when_set() -> None:
    assert not passes(entry("x", score=30), Policy(min_score=40))
    assert passes(entry("x", score=40), Policy(min_score=40))


def test_only_reporters_with_an_allowed_reason_count() -> None:
    mixed = entry("x", reporters=2, fraud=1, abusive=1)
    assert not passes(mixed, Policy(reasons=frozenset({"fraud"})))
    assert passes(mixed, Policy(reasons=frozenset({"fraud", "abusive"})))


def test_decide_skips_allowlisted_and_already_blacklisted_buyers() -> None:
    d = decide(
        [entry("a"), entry("b"), entry("c")],
        policy=Policy(),
        blacklisted={"a"},
        allowlisted={"b"},
        completed_orders={},
    )
    assert [e.member_id for e in d.to_add] == ["c"]
    assert d.skipped_allowlisted == 1


def test_good_customer_is_flagged_for_review_not_blacklisted() -> None:
    d = decide(
        [entry("loyal")], policy=Policy(), blacklisted=set(), allowlisted=set(), completed_orders={"loyal": 3}
    )
    assert d.to_add == []
    assert [(r.entry.member_id, r.completed_orders) for r in d.review] == [("loyal", 3)]


def test_at_most_max_new_per_sync_highest_score_first() -> None:
    entries = [entry(f"m{i}", score=i) for i in range(10)]
    d = decide(
        entries, policy=Policy(max_new_per_sync=3), blacklisted=set(), allowlisted=set(), completed_orders={}
    )
    assert [e.member_id for e in d.to_add] == ["m9", "m8", "m7"]
    assert len(d.deferred) == 7


def test_a_name_the_backend_refused_is_not_retried_until_it_changes() -> None:
    kwargs = {"policy": Policy(), "blacklisted": set(), "allowlisted": set(), "completed_orders": {}}
    assert decide([entry("x")], rejected={"x": "Buyer x"}, **kwargs).to_add == []  # type: ignore[arg-type]
    renamed = SharedEntry("x", "Real Name", 2, 50, {"fraud": 2})
    assert decide([renamed], rejected={"x": "Buyer x"}, **kwargs).to_add == [renamed]  # type: ignore[arg-type]


def test_agent_entries_whose_shared_entry_fails_or_vanished_are_retracted() -> None:
    shared = {"ok": entry("ok"), "weak": entry("weak", reporters=1)}
    agent = {"ok": "Buyer ok", "weak": "Buyer weak", "gone": "Buyer gone"}
    out = retractions(agent, shared, Policy())
    assert [(r.member_id, r.why) for r in out] == [
        ("gone", "no longer on the shared list"),
        ("weak", "1 reporter, policy needs 2"),
    ]


def test_a_misspelt_reason_in_the_config_is_refused() -> None:
    from agent.config import PolicySettings
    from agent.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        Policy.from_settings(PolicySettings(reasons=["frud"]))
    assert info.value.key == "policy.reasons"


# --- decisions the executor carries out --------------------------------------------------------------


def test_a_link_tries_the_name_the_buyer_ordered_under_here_before_the_hubs() -> None:
    assert link_names(entry("x"), "Bùyer x") == ["Bùyer x", "Buyer x"]


def test_a_link_tries_the_hubs_name_once_when_the_store_knows_no_other() -> None:
    assert link_names(entry("x"), None) == ["Buyer x"]
    assert link_names(entry("x"), "Buyer x") == ["Buyer x"]


def test_an_already_blacklisted_answer_to_the_agents_link_counts_as_the_agents_entry() -> None:
    assert origin_after_link(BlacklistOutcome.ALREADY) == "agent"
    assert origin_after_link(BlacklistOutcome.ADDED) == "agent"
    assert origin_after_link(BlacklistOutcome.MISMATCH) is None


def evictable(member_id: str, score: int, day: int | None) -> Evictable:
    added = datetime(2026, 1, day, tzinfo=UTC) if day else None
    return Evictable(member_id, member_id, score, added)


def test_the_lowest_score_automatic_entry_makes_room_the_oldest_first() -> None:
    entries = [evictable("new", 50, 9), evictable("old", 50, 2), evictable("high", 88, 1)]
    victim = eviction_victim(entries, for_score=75)
    assert victim is not None
    assert victim.member_id == "old"


def test_nothing_makes_room_for_a_candidate_that_scores_no_higher() -> None:
    assert eviction_victim([evictable("a", 75, 1)], for_score=75) is None


def test_on_a_full_blacklist_the_highest_score_goes_first_then_more_reporters() -> None:
    ranked = order_when_full([entry("a", 2, 75), entry("b", 3, 88), entry("c", 3, 75)])
    assert [e.member_id for e in ranked] == ["b", "c", "a"]


def weighed(reporters: int, weight: float, **reasons: int) -> SharedEntry:
    return SharedEntry("w", "Buyer w", reporters, 50, reasons or {"fraud": reporters}, weight=weight)


def test_fractional_standing_weighs_fractionally_when_the_hub_sends_a_weight() -> None:
    assert not passes(weighed(2, 1.5), Policy())  # an honest seller and one of half standing: not two
    assert passes(weighed(3, 2.0), Policy())
    assert passes(weighed(2, 2.0), Policy())


def test_weight_and_an_allowed_reason_combine() -> None:
    mixed = weighed(4, 2.0, fraud=2, abusive=2)  # mean standing 0.5: the two fraud reports weigh 1
    assert not passes(mixed, Policy(reasons=frozenset({"fraud"})))
    assert passes(mixed, Policy(min_reporters=1, reasons=frozenset({"fraud"})))


def test_without_a_weight_each_reporter_counts_as_one() -> None:
    assert passes(SharedEntry("x", "X", 2, 50, {"fraud": 2}), Policy())


def test_names_compare_normalised_on_both_sides() -> None:
    decomposed = "Jose\u0301 Garci\u0301a"
    composed = "Jos\u00e9 Garc\u00eda"
    shared = SharedEntry("x", decomposed, 2, 50, {"fraud": 2})
    assert link_names(shared, composed.upper()) == [decomposed]  # the same name: tried once
    decision = decide(
        [shared],
        policy=Policy(),
        blacklisted=set(),
        allowlisted=set(),
        completed_orders={},
        rejected={"x": composed},
    )
    assert decision.to_add == []  # refused under this name already, however it is spelled
    assert decision.skipped_rejected == 1
