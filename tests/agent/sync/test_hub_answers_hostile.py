"""The agent survives a hostile or broken hub: a real HTTP server on loopback answers what each test sets.

Every malformed answer is a hub error that says what was wrong; one bad entry is skipped, never blocks the
others; bounds hold; member ids never reach another endpoint; the token never reaches output or state;
files are owner-only; plain HTTP goes to loopback only.
"""

from __future__ import annotations

import json
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hostile_hub import HTML_200, HostileHub, as_json

from agent.errors import ConfigError, HubBadAnswer, HubRejected
from agent.hub_client import HubClient, check_transport_security
from agent.hub_models import Report
from agent.state import LocalState
from agent.sync.feed import pull_feed
from agent.sync.outbox import deliver_outbox

TOKEN = "tok-0123456789-secret"
FEED = ("GET", "/v1/feed")


def entry(member_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "member_id": member_id,
        "name": f"B{member_id}",
        "reporters": 2,
        "score": 50,
        "reasons": {},
    } | fields


def change(seq: int, member_id: str, **fields: Any) -> dict[str, Any]:
    return {"seq": seq, "member_id": member_id, "deleted": False, "entry": entry(member_id, **fields)}


def page(changes: list[Any], next_cursor: int, has_more: bool = False) -> tuple[int, str, bytes]:
    return as_json(200, {"changes": changes, "next_cursor": next_cursor, "has_more": has_more})


@pytest.fixture
def hostile() -> Iterator[HostileHub]:
    with HostileHub() as server:
        yield server


@pytest.fixture
def client(hostile: HostileHub) -> Iterator[HubClient]:
    with HubClient(hostile.url, TOKEN, max_retries=0, sleep=lambda _: None) as hub:
        yield hub


def cached_state(hostile: HostileHub, client: HubClient) -> LocalState:
    """A state that pulled one good entry ("good") from the hub before it broke."""
    state = LocalState.in_memory()
    hostile.routes[FEED] = page([change(1, "good")], 1)
    pull_feed(client, state)
    return state


@pytest.mark.parametrize(
    ("answer", "says"),
    [
        (HTML_200, "not JSON (text/html)"),
        (as_json(200, {"changes": [], "has_more": False}), "next_cursor"),
        (as_json(200, ["not", "a", "page"]), "not an object"),
        (as_json(200, {"changes": "lots", "next_cursor": 9}), "changes is not a list"),
        (as_json(200, {"changes": [], "next_cursor": 9, "has_more": "yes"}), "has_more"),
    ],
)
def test_a_malformed_feed_page_is_a_hub_error_and_the_cached_list_stays(
    hostile: HostileHub, client: HubClient, answer: tuple[int, str, bytes], says: str
) -> None:
    state = cached_state(hostile, client)
    hostile.routes[FEED] = answer
    with pytest.raises(HubBadAnswer, match=re.escape(says)):
        pull_feed(client, state)
    assert set(state.shared.entries()) == {"good"}
    assert state.feed.load().position == 1


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        (change(2, "b", last_reported_at="yesterday-ish"), "not a timestamp"),
        (change(2, "b", reporters="many"), "reporters is not a count"),
        (change(2, "b", weight="heavy"), "weight is not a number"),
        (None, "change is not an object"),
        (change(2, "b", name="x" * 1_000_000), "name is 1000000 characters long"),
        (change(2, "b/../../feed"), "member_id is not a member id"),
        ({"seq": 2, "member_id": "b", "entry": entry("other")}, "entry of other filed under b"),
    ],
)
def test_one_bad_change_is_skipped_and_reported_and_the_others_are_taken(
    hostile: HostileHub, client: HubClient, bad: Any, says: str
) -> None:
    state = LocalState.in_memory()
    hostile.routes[FEED] = page([change(1, "a"), bad, change(3, "c")], 3)
    result = pull_feed(client, state)
    assert set(state.shared.entries()) == {"a", "c"}
    assert result.skipped_count == 1
    assert says in result.skipped[0]
    assert len(result.skipped[0]) < 300  # the report names the problem, it does not carry the payload


def test_a_feed_that_never_ends_stops_at_the_page_bound_and_resumes_next_cycle(
    hostile: HostileHub, client: HubClient
) -> None:
    def endless(path: str) -> tuple[int, str, bytes]:
        cursor = int(path.split("cursor=")[1].split("&")[0])
        return page([change(cursor + 1, f"m{cursor + 1}")], cursor + 1, has_more=True)

    hostile.routes[FEED] = endless
    state = LocalState.in_memory()
    result = pull_feed(client, state, max_pages=5)
    assert not result.complete
    assert result.bound is not None
    assert "5 feed pages" in result.bound
    assert state.shared.count() == 5
    assert state.feed.load().position == 5  # the next cycle goes on from here
    assert len(hostile.seen) == 5


def test_a_feed_that_says_more_but_does_not_move_is_a_hub_error(
    hostile: HostileHub, client: HubClient
) -> None:
    hostile.routes[FEED] = page([change(1, "a")], 0, has_more=True)
    with pytest.raises(HubBadAnswer, match="does not move past it"):
        pull_feed(client, LocalState.in_memory())
    assert len(hostile.seen) == 1


def test_the_cache_never_grows_past_its_bound(hostile: HostileHub, client: HubClient) -> None:
    state = cached_state(hostile, client)
    hostile.routes[FEED] = page([change(2, "b"), change(3, "c")], 3)
    result = pull_feed(client, state, max_entries=2)
    assert result.bound is not None
    assert "more than 2 buyers" in result.bound
    assert set(state.shared.entries()) == {"good"}


def test_an_answer_over_the_byte_bound_is_cut_off(hostile: HostileHub) -> None:
    hostile.routes[FEED] = page([change(1, "a", name="x" * 200)], 1)
    small = HubClient(hostile.url, TOKEN, max_retries=0, max_response_bytes=100)
    with small, pytest.raises(HubBadAnswer, match="larger than 100 bytes"):
        small.feed(0)


def test_member_ids_never_reach_another_endpoint(hostile: HostileHub, client: HubClient) -> None:
    for member_id in ("123?x", "9/../../feed", "..", "a#b", "x" * 40):
        with pytest.raises(ValueError, match="not a member id"):
            client.withdraw(member_id)
        with pytest.raises(ValueError, match="not a member id"):
            client.entry(member_id)
    assert hostile.seen == []


def test_an_invalid_id_is_set_aside_before_queueing_and_never_blocks_the_outbox(
    hostile: HostileHub, client: HubClient
) -> None:
    hostile.routes[("DELETE", "/v1/reports/ok")] = as_json(200, {"withdrawn": True})
    hostile.routes[("POST", "/v1/reports")] = as_json(200, {"created": 1})
    state = LocalState.in_memory()
    state.outbox.queue_withdrawal("9/../../feed", "X")
    state.outbox.queue_withdrawal("ok", "Ok")
    state.outbox.queue_report(Report("123?x", "Y"))
    state.outbox.queue_report(Report("good", "Good"))
    assert {i.member_id for i in state.outbox.items()} == {"ok", "good"}
    assert state.outbox.counts() == {"pending": 2, "rejected": 2}

    result = deliver_outbox(client, state)

    assert (result.withdrawals, result.reports, result.error) == (1, 1, None)
    assert [(s.method, s.path) for s in hostile.seen] == [
        ("DELETE", "/v1/reports/ok"),
        ("POST", "/v1/reports"),
    ]
    assert state.outbox.counts() == {"pending": 0, "rejected": 2}


def test_a_malformed_push_answer_keeps_the_reports_queued(hostile: HostileHub, client: HubClient) -> None:
    hostile.routes[("POST", "/v1/reports")] = HTML_200
    state = LocalState.in_memory()
    state.outbox.queue_report(Report("good", "Good"))
    result = deliver_outbox(client, state)
    assert result.error is not None
    assert "not JSON" in result.error
    assert state.outbox.counts()["pending"] == 1


def test_a_token_the_hub_echoes_never_reaches_errors_or_state(hostile: HostileHub, client: HubClient) -> None:
    hostile.routes[FEED] = page([change(1, "a", name=f"Bob {TOKEN}")], 1)
    hostile.routes[("POST", "/v1/reports")] = as_json(422, {"detail": f"bad token {TOKEN} in reports[0]"})
    state = LocalState.in_memory()
    pull_feed(client, state)
    with pytest.raises(HubRejected) as refused:
        client.push_reports([Report("good", "Good")])
    assert TOKEN not in str(refused.value)
    assert TOKEN not in json.dumps(refused.value.detail)
    assert TOKEN not in state.shared.entries()["a"].name
    dump = "\n".join(state.conn.iterdump())
    assert TOKEN not in dump


@pytest.mark.parametrize(
    "url", ["http://localhost:8000", "http://127.0.0.1", "http://127.9.9.9:1", "http://[::1]:80"]
)
def test_plain_http_is_allowed_to_loopback(url: str) -> None:
    check_transport_security(url)


@pytest.mark.parametrize(
    "url", ["http://hub.localhost", "http://evil.localhost:8000", "http://example.com", "http://10.0.0.1"]
)
def test_plain_http_is_refused_anywhere_else(url: str) -> None:
    with pytest.raises(ConfigError, match="https"):
        check_transport_security(url)


def test_the_data_dir_and_state_are_owner_only(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o755)
    path = data_dir / "state.sqlite3"
    path.touch(mode=0o644)
    with LocalState.open(path) as state, state.transaction():
        state.allowlist.add("m1", "Someone", "test")
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    for file in data_dir.iterdir():
        assert stat.S_IMODE(file.stat().st_mode) == 0o600, file.name


def test_share_all_leaves_out_ids_the_hub_cannot_accept_and_says_so() -> None:
    from agent.models import BlacklistEntry
    from agent.sync.cycle_result import ShareReport
    from agent.sync.share import _sellers_reports

    state, report = LocalState.in_memory(), ShareReport()
    seen = [BlacklistEntry("good", "Good"), BlacklistEntry("9/../../feed", "Odd")]
    reports = _sellers_reports(state, seen, report)
    assert [r.member_id for r in reports] == ["good"]
    assert report.notes == ["1 entry with a member id the hub cannot accept: not shared"]
