"""Diffing the store's blacklist with local state, including intents left pending by a crash."""

from __future__ import annotations

from agent.models import BlacklistEntry
from agent.sync.diff import KnownEntry, PendingIntent, diff_blacklist


def seen(*ids: str) -> list[BlacklistEntry]:
    return [BlacklistEntry(i, f"Buyer {i}") for i in ids]


def test_new_entries_the_agent_did_not_add_are_manual() -> None:
    d = diff_blacklist(seen("a", "b"), {"a": KnownEntry("a", "Buyer a", "agent")})
    assert [e.member_id for e in d.new_manual] == ["b"]


def test_manual_removal_is_a_withdrawal_and_agent_entry_removal_is_the_sellers_veto() -> None:
    known = {"m": KnownEntry("m", "M", "manual"), "g": KnownEntry("g", "G", "agent")}
    d = diff_blacklist(seen(), known)
    assert [e.member_id for e in d.removed_manual] == ["m"]
    assert [e.member_id for e in d.removed_by_seller] == ["g"]


def test_entry_added_before_a_crash_is_the_agents_not_a_manual_report() -> None:
    d = diff_blacklist(seen("x"), {}, [PendingIntent(1, "add", "x", "Buyer x")])
    assert d.new_manual == []
    assert [i.member_id for i in d.confirmed_adds] == ["x"]


def test_add_that_never_reached_the_store_is_lost_so_the_policy_decides_again() -> None:
    d = diff_blacklist(seen(), {}, [PendingIntent(1, "add", "x", "Buyer x")])
    assert [i.member_id for i in d.lost_adds] == ["x"]


def test_removal_by_the_agent_before_a_crash_is_not_mistaken_for_the_seller() -> None:
    known = {"g": KnownEntry("g", "G", "agent")}
    d = diff_blacklist(seen(), known, [PendingIntent(1, "remove", "g", "G")])
    assert d.removed_by_seller == []
    assert [i.member_id for i in d.confirmed_removals] == ["g"]


def test_removal_that_did_not_happen_is_reported_as_lost() -> None:
    known = {"g": KnownEntry("g", "G", "agent")}
    d = diff_blacklist(seen("g"), known, [PendingIntent(1, "remove", "g", "G")])
    assert [i.member_id for i in d.lost_removals] == ["g"]
    assert d.removed_by_seller == []
