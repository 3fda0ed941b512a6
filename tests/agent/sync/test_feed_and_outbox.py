"""Pulling the feed into the cache and delivering the outbox, with the hub played by MockTransport."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx

from agent.hub_client import HubClient
from agent.hub_models import Report
from agent.models import BlacklistEntry
from agent.state import FeedCursor, LocalState
from agent.state.db import now
from agent.sync.feed import pull_feed
from agent.sync.outbox import RECONFIRM_EVERY, deliver_outbox, snapshot_if_due


def entry(member_id: str, reporters: int = 2) -> dict[str, Any]:
    return {
        "member_id": member_id,
        "name": f"B{member_id}",
        "reporters": reporters,
        "score": 50,
        "reasons": {},
    }


def change(seq: int, member_id: str, live: bool = True) -> dict[str, Any]:
    return {
        "seq": seq,
        "member_id": member_id,
        "deleted": not live,
        "entry": entry(member_id) if live else None,
    }


def hub(handler: Callable[[httpx.Request], httpx.Response]) -> HubClient:
    return HubClient("http://127.0.0.1:9", "t", transport=httpx.MockTransport(handler), sleep=lambda s: None)


def feed_server(pages: dict[int, httpx.Response]) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        return pages[int(request.url.params["cursor"])]

    return handler


def page(changes: list[dict[str, Any]], next_cursor: int, has_more: bool = False) -> httpx.Response:
    body = {"changes": changes, "next_cursor": next_cursor, "has_more": has_more}
    return httpx.Response(200, json=body, headers={"ETag": f'"{next_cursor}"'})


def test_tombstones_remove_cached_entries_and_the_cursor_advances() -> None:
    state = LocalState.in_memory()
    pull_feed(hub(feed_server({0: page([change(1, "a"), change(2, "b")], 2)})), state)
    pull_feed(hub(feed_server({2: page([change(3, "a", live=False)], 3)})), state)
    assert set(state.shared.entries()) == {"b"}
    assert state.feed.load().position == 3


def test_expired_cursor_re_pulls_everything_and_drops_what_vanished() -> None:
    state = LocalState.in_memory()
    pull_feed(hub(feed_server({0: page([change(1, "a"), change(2, "b")], 2)})), state)
    pages = {
        2: httpx.Response(410, json={"detail": "gone"}),
        0: page([change(9, "b")], 9),
    }
    result = pull_feed(hub(feed_server(pages)), state)
    assert result.full_repull
    assert set(state.shared.entries()) == {"b"}


def test_a_full_pull_stopped_half_way_keeps_the_old_entries_until_it_completes() -> None:
    state = LocalState.in_memory()
    pull_feed(hub(feed_server({0: page([change(1, "old")], 1)})), state)
    state.feed.save(FeedCursor(position=0, generation=2, full_pull=True, pulled=True))  # as after a 410
    pages = {0: page([change(5, "new")], 100, has_more=True), 100: page([change(101, "newer")], 101)}

    class StopAfterFirst:
        def is_set(self) -> bool:
            return True

    pull_feed(hub(feed_server(pages)), state, stop=StopAfterFirst())  # type: ignore[arg-type]
    assert set(state.shared.entries()) == {"old", "new"}
    pull_feed(hub(feed_server(pages)), state)
    assert set(state.shared.entries()) == {"new", "newer"}


def test_a_report_the_hub_refuses_is_set_aside_and_the_others_are_delivered() -> None:
    state = LocalState.in_memory()
    for member_id in ("ok1", "bad", "ok2"):
        state.outbox.queue_report(Report(member_id, member_id.upper()))

    def handler(request: httpx.Request) -> httpx.Response:
        ids = [r["member_id"] for r in json.loads(request.content)["reports"]]
        if "bad" in ids:
            detail = [{"loc": ["body", "reports", ids.index("bad"), "name"], "msg": "bad name"}]
            return httpx.Response(422, json={"detail": detail})
        return httpx.Response(200, json={"created": len(ids), "updated": 0, "unchanged": 0})

    result = deliver_outbox(hub(handler), state)
    assert (result.reports, result.rejected) == (2, ["bad"])
    assert state.outbox.items() == []
    assert state.outbox.counts() == {"pending": 0, "rejected": 1}
    assert state.reported.ids() == {"ok1", "ok2"}


def test_nothing_leaves_the_outbox_while_the_hub_is_down() -> None:
    state = LocalState.in_memory()
    state.outbox.queue_report(Report("a", "A"))
    state.outbox.queue_withdrawal("b", "B")
    result = deliver_outbox(hub(lambda request: httpx.Response(503)), state)
    assert result.error is not None
    assert {i.member_id for i in state.outbox.items()} == {"a", "b"}


def test_withdrawals_are_delivered_while_the_daily_quota_holds_new_reports_back() -> None:
    state = LocalState.in_memory()
    state.outbox.queue_report(Report("new", "N"))
    state.outbox.queue_withdrawal("forgiven", "F")

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":  # the quota of new reports resets at midnight
            return httpx.Response(429, json={"detail": "daily quota"}, headers={"Retry-After": "36000"})
        return httpx.Response(200, json={"withdrawn": True})

    result = deliver_outbox(hub(handler), state)
    assert result.withdrawals == 1  # other stores' agents can retract now, not tomorrow
    assert result.error is not None
    assert [i.member_id for i in state.outbox.items()] == ["new"]


def snapshot_recorder(sent: list[httpx.Request], status: int = 200) -> HubClient:
    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        if status != 200:
            return httpx.Response(status, json={"detail": "no"}, headers={"Retry-After": "36000"})
        n = len(json.loads(request.content)["reports"])
        return httpx.Response(200, json={"created": 0, "updated": 0, "unchanged": n, "withdrawn": 0})

    return hub(handler)


def test_a_running_agent_confirms_its_reports_again_before_the_hub_lets_them_age() -> None:
    state = LocalState.in_memory()
    state.blacklist.add_manual(BlacklistEntry("mine", "Mine"))
    sent: list[httpx.Request] = []
    state.reported.snapshot_pushed(now() - timedelta(days=1))
    assert snapshot_if_due(snapshot_recorder(sent), state) is None
    assert sent == []  # confirmed recently: the outbox does the work

    state.reported.snapshot_pushed(now() - RECONFIRM_EVERY - timedelta(minutes=1))
    counts = snapshot_if_due(snapshot_recorder(sent), state)

    assert counts is not None
    assert counts.unchanged == 1
    assert [(r.method, json.loads(r.content)["reports"][0]["member_id"]) for r in sent] == [("PUT", "mine")]
    assert state.reported.snapshot_at is not None
    assert state.reported.snapshot_at > now() - timedelta(minutes=1)


def test_a_refused_reconfirmation_leaves_the_outbox_to_deliver_as_usual() -> None:
    state = LocalState.in_memory()
    state.blacklist.add_manual(BlacklistEntry("mine", "Mine"))
    state.reported.snapshot_pushed(now() - RECONFIRM_EVERY - timedelta(minutes=1))
    assert snapshot_if_due(snapshot_recorder([], status=429), state) is None


def test_a_report_the_hub_refused_as_invalid_does_not_block_confirming_the_others() -> None:
    state = LocalState.in_memory()
    for member_id in ("mine", "bad"):
        state.blacklist.add_manual(BlacklistEntry(member_id, member_id.title()))
    state.outbox.queue_report(Report("bad", "Bad"))
    state.outbox.failed(["bad"], "422 bad name", rejected=True)
    state.reported.snapshot_pushed(now() - RECONFIRM_EVERY - timedelta(minutes=1))
    sent: list[httpx.Request] = []

    assert snapshot_if_due(snapshot_recorder(sent), state) is not None
    assert [r["member_id"] for r in json.loads(sent[0].content)["reports"]] == ["mine"]
    assert state.outbox.counts() == {"pending": 0, "rejected": 1}  # still shown to the seller
