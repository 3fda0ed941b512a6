"""The feed: paging, tombstones, ETag / 304, 410, and entries that never name reporters."""

from __future__ import annotations

from typing import Any

from tests.hub.support import HubClient, report


def pull_all(
    hub: HubClient, headers: dict[str, str], cursor: int = 0, limit: int = 1000
) -> tuple[dict[str, Any], int]:
    """Apply the feed from `cursor` like a client would; returns (member id → entry, new cursor)."""
    state: dict[str, Any] = {}
    while True:
        page = hub.feed(headers, cursor, limit)
        for change in page["changes"]:
            if change["deleted"]:
                state.pop(change["member_id"], None)
            else:
                state[change["member_id"]] = change["entry"]
        cursor = page["next_cursor"]
        if not page["has_more"]:
            return state, cursor


def test_feed_pages_through_every_entry(hub: HubClient) -> None:
    a = hub.add_seller("a")
    hub.push(a, *[report(f"m{i:02}") for i in range(25)])
    first = hub.feed(a, 0, 10)
    assert (len(first["changes"]), first["has_more"]) == (10, True)
    state, cursor = pull_all(hub, a, limit=10)
    assert sorted(state) == [f"m{i:02}" for i in range(25)]
    assert hub.feed(a, cursor) == {"changes": [], "next_cursor": cursor, "has_more": False}


def test_entries_show_counts_and_reasons_but_never_who_reported(hub: HubClient) -> None:
    a, b = hub.add_seller("alpha"), hub.add_seller("beta")
    hub.push(a, report("m1", reason="fraud", note="alpha's private note"))
    hub.push(b, report("m1", name="Jane R.", reason="chargeback"))
    entry = hub.entry(a, "m1")
    assert entry == {
        "member_id": "m1",
        "name": "Jane Roe",  # a tie: the name filed first
        "reporters": 2,
        "score": 75,
        "reasons": {"chargeback": 1, "fraud": 1},
        "first_reported_at": "2026-11-20T00:00:00Z",  # the day, never the instant
        "last_reported_at": "2026-11-20T00:00:00Z",
        "weight": 2.0,
    }
    body = hub.get("/v1/feed", headers=b).text + hub.get("/v1/entries/m1", headers=b).text
    for secret in ("alpha", "beta", "private", "store-"):
        assert secret not in body


def test_delta_pull_sees_changes_and_tombstones(hub: HubClient) -> None:
    a, b = hub.add_seller("a"), hub.add_seller("b")
    hub.push(a, report("m1"), report("m2"))
    _state, cursor = pull_all(hub, b)
    hub.push(b, report("m1"))
    hub.delete("/v1/reports/m2", headers=a)
    delta = hub.feed(b, cursor)["changes"]
    assert [(c["member_id"], c["deleted"]) for c in delta] == [("m1", False), ("m2", True)]
    assert delta[0]["entry"]["reporters"] == 2


def test_full_pull_returns_live_entries_only(hub: HubClient) -> None:
    a = hub.add_seller("a")
    hub.push(a, report("m1"), report("m2"))
    hub.delete("/v1/reports/m1", headers=a)
    changes = hub.feed(a)["changes"]
    assert [(c["member_id"], c["deleted"]) for c in changes] == [("m2", False)]


def test_a_change_superseded_while_paging_is_not_lost(hub: HubClient) -> None:
    a, b = hub.add_seller("a"), hub.add_seller("b")
    hub.push(a, *[report(f"m{i}") for i in range(6)])
    page = hub.feed(b, 0, 3)  # three of them (publication order is random)
    read = {c["member_id"] for c in page["changes"]}
    hub.push(b, report("m1"), report("m4"))  # they change, whether read already or not
    state, _ = pull_all(hub, b, page["next_cursor"], limit=3)
    assert sorted(state) == sorted({f"m{i}" for i in range(6)} - read | {"m1", "m4"})
    assert state["m4"]["reporters"] == 2


def test_unchanged_feed_answers_304_to_its_etag(hub: HubClient) -> None:
    a = hub.add_seller("a")
    hub.push(a, report("m1"))
    first = hub.get("/v1/feed", params={"cursor": 0}, headers=a)
    etag = first.headers["ETag"]
    again = hub.get("/v1/feed", params={"cursor": 0}, headers=a | {"If-None-Match": etag})
    assert (again.status_code, again.headers["ETag"], again.content) == (304, etag, b"")
    hub.push(a, report("m2"))
    changed = hub.get("/v1/feed", params={"cursor": 0}, headers=a | {"If-None-Match": etag})
    assert changed.status_code == 200
    assert len(changed.json()["changes"]) == 2


def test_polling_from_next_cursor_with_the_last_pages_etag_gets_304(hub: HubClient) -> None:
    a = hub.add_seller("a")
    hub.push(a, report("m1"), report("m2"))
    last = hub.get("/v1/feed", params={"cursor": 0, "limit": 1}, headers=a)
    last = hub.get("/v1/feed", params={"cursor": last.json()["next_cursor"], "limit": 1}, headers=a)
    assert last.json()["has_more"] is False
    poll = {"cursor": last.json()["next_cursor"], "limit": 1}
    assert (
        hub.get("/v1/feed", params=poll, headers=a | {"If-None-Match": last.headers["ETag"]}).status_code
        == 304
    )
    hub.push(a, report("m3"))
    changed = hub.get("/v1/feed", params=poll, headers=a | {"If-None-Match": last.headers["ETag"]})
    assert [c["member_id"] for c in changed.json()["changes"]] == ["m3"]


def test_etag_of_another_cursor_does_not_give_304(hub: HubClient) -> None:
    a = hub.add_seller("a")
    hub.push(a, report("m1"))
    cursor = hub.feed(a)["next_cursor"]
    caught_up = hub.get("/v1/feed", params={"cursor": cursor}, headers=a)
    stale = hub.get(
        "/v1/feed", params={"cursor": 0}, headers=a | {"If-None-Match": caught_up.headers["ETag"]}
    )
    assert stale.status_code == 200
    assert len(stale.json()["changes"]) == 1


def test_cursor_below_the_compaction_horizon_gets_410_and_a_full_pull_recovers(hub: HubClient) -> None:
    a = hub.add_seller("a")
    hub.push(a, report("m1"), report("m2"), report("m3"))
    _, old_cursor = pull_all(hub, a)
    hub.delete("/v1/reports/m1", headers=a)
    hub.clock.advance(days=31)
    with hub.admin() as admin:
        result = admin.compact()
    assert result.tombstones == 1
    gone = hub.get("/v1/feed", params={"cursor": old_cursor}, headers=a)
    assert gone.status_code == 410
    # a full pull in pages of one passes the horizon although the live entries are older than it
    state, cursor = pull_all(hub, a, limit=1)
    assert sorted(state) == ["m2", "m3"]
    assert hub.feed(a, cursor)["changes"] == []


def test_cursor_ahead_of_the_hub_gets_410(hub: HubClient) -> None:
    a = hub.add_seller("a")
    hub.push(a, report("m1"))
    assert hub.get("/v1/feed", params={"cursor": 99}, headers=a).status_code == 410


def test_compaction_keeps_what_the_feed_serves(hub: HubClient) -> None:
    a, b = hub.add_seller("a"), hub.add_seller("b")
    hub.push(a, report("m1"), report("m2"))
    hub.push(b, report("m1"))
    before = pull_all(hub, a)
    with hub.admin() as admin:
        assert admin.compact().superseded == 1
    assert pull_all(hub, a) == before
    assert hub.get("/v1/feed", params={"cursor": 1}, headers=a).status_code == 200


def test_feed_limit_and_cursor_are_validated(hub: HubClient) -> None:
    a = hub.add_seller("a")
    for params in ({"limit": 0}, {"limit": 5001}, {"cursor": -1}, {"cursor": "x"}, {"cursor": 2**70}):
        assert hub.get("/v1/feed", params=params, headers=a).status_code == 422


def test_unknown_entry_is_404(hub: HubClient) -> None:
    a = hub.add_seller("a")
    assert hub.get("/v1/entries/nobody", headers=a).status_code == 404
    assert hub.get("/v1/entries/bad%20id", headers=a).status_code == 422
