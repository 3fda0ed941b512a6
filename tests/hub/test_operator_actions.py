"""Operator actions reach the feed at once: disabling sellers, standing, delisting buyers."""

from __future__ import annotations

from tests.hub.support import HubClient, report


def test_disabled_sellers_reports_stop_counting_at_once_and_show_in_the_feed(hub: HubClient) -> None:
    a, b, c = hub.add_seller("a"), hub.add_seller("b"), hub.add_seller("c")
    hub.push(a, report("m1"), report("m2"))
    hub.push(b, report("m1"))
    cursor = hub.feed(c)["next_cursor"]
    with hub.admin() as admin:
        assert admin.set_enabled("a", False) == 2
    changes = sorted(hub.feed(c, cursor)["changes"], key=lambda x: x["member_id"])
    assert [(x["member_id"], x["deleted"]) for x in changes] == [("m1", False), ("m2", True)]
    assert changes[0]["entry"]["reporters"] == 1
    assert hub.entry(c, "m1")["reporters"] == 1
    with hub.admin() as admin:
        admin.set_enabled("a", True)
    assert hub.entry(c, "m1")["reporters"] == 2
    assert hub.entry(c, "m2")["reporters"] == 1


def test_lower_standing_lowers_scores(hub: HubClient) -> None:
    a = hub.add_seller("a")
    hub.push(a, report("m1"))
    with hub.admin() as admin:
        admin.set_standing("a", 0.5)
    assert hub.entry(a, "m1")["score"] == 29
    assert hub.get("/v1/me", headers=a).json()["standing"] == 0.5


def test_delisted_buyer_stays_out_whatever_is_reported_until_relisted(hub: HubClient) -> None:
    a, b = hub.add_seller("a"), hub.add_seller("b")
    hub.push(a, report("m1"))
    cursor = hub.feed(a)["next_cursor"]
    with hub.admin() as admin:
        assert admin.set_delisted("m1", True) == 1
    assert hub.feed(a, cursor)["changes"][0]["deleted"] is True
    hub.push(b, report("m1"))
    assert hub.entry(a, "m1") is None
    assert hub.feed(a)["changes"] == []
    with hub.admin() as admin:
        admin.set_delisted("m1", False)
    assert hub.entry(a, "m1")["reporters"] == 2


def test_delisting_a_buyer_never_reported_keeps_it_out(hub: HubClient) -> None:
    a = hub.add_seller("a")
    with hub.admin() as admin:
        assert admin.set_delisted("m9", True) == 0
    hub.push(a, report("m9"))
    assert hub.entry(a, "m9") is None


def test_stats_count_what_is_there(hub: HubClient) -> None:
    a, b = hub.add_seller("a"), hub.add_seller("b")
    hub.push(a, report("m1"), report("m2"))
    hub.push(b, report("m1"))
    with hub.admin() as admin:
        stats = admin.stats()
    assert (stats["sellers"], stats["reports"], stats["entries_live"]) == (2, 3, 2)
