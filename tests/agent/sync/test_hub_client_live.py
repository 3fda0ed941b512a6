"""The hub client against the real hub app, served by uvicorn on loopback over SQLite."""

from __future__ import annotations

import pytest
from sync_world import HubServer

from agent.errors import HubRejected
from agent.hub_client import HubClient, fits_one_put
from agent.hub_models import RecordChange, Report
from agent.state import LocalState
from agent.sync.share import push_large_snapshot


def test_reports_from_two_sellers_reach_the_feed_as_one_entry_then_304(hub: HubServer) -> None:
    a = HubClient(hub.url, hub.add_seller("store-a"))
    b = HubClient(hub.url, hub.add_seller("store-b"))
    a.push_reports([Report("42", "Xavier", "fraud")])
    b.put_snapshot([Report("42", "Xavier", "chargeback")])

    page = a.feed(0)
    assert page is not None
    (change,) = [c for c in page.changes if c.member_id == "42"]
    assert change.entry is not None
    assert (change.entry.reporters, dict(change.entry.reasons)) == (2, {"fraud": 1, "chargeback": 1})
    moved = a.feed(page.next_cursor, etag=page.etag)  # a moved cursor: one empty page, a fresh ETag
    etag = moved.etag if moved is not None else page.etag
    assert a.feed(page.next_cursor, etag=etag) is None


def test_snapshot_withdraws_what_is_gone_and_twice_changes_nothing(hub: HubServer) -> None:
    a = HubClient(hub.url, hub.add_seller("store-a"))
    first = a.put_snapshot([Report("1", "One"), Report("2", "Two")])
    assert (first.created, first.withdrawn) == (2, 0)
    second = a.put_snapshot([Report("1", "One")])
    assert (second.unchanged, second.withdrawn) == (1, 1)
    again = a.put_snapshot([Report("1", "One")])
    assert (again.created, again.updated, again.withdrawn) == (0, 0, 0)
    assert a.withdraw("1") is True
    assert a.withdraw("1") is False
    assert a.entry("1") is None


def test_a_bad_token_is_refused_with_the_hubs_message(hub: HubServer) -> None:
    with pytest.raises(HubRejected) as info:
        HubClient(hub.url, "not-a-token").me()
    assert info.value.status_code == 401


def test_a_snapshot_too_large_for_one_put_is_batched_and_still_withdraws_what_is_gone(hub: HubServer) -> None:
    client = HubClient(hub.url, hub.add_seller("store-big"))
    state = LocalState.in_memory()
    reports = [Report(f"m{i}", f"Buyer {i}") for i in range(1100)]

    first = push_large_snapshot(client, state, reports)
    assert (first.created, first.withdrawn) == (1100, 0)
    second = push_large_snapshot(client, state, reports[:1070])
    assert (second.unchanged, second.withdrawn) == (1070, 30)
    assert client.entry("m1080") is None
    assert len(state.reported.ids()) == 1070


def test_one_put_holds_at_most_10000_reports_under_1_mib() -> None:
    assert fits_one_put([Report(str(i), "N") for i in range(10_000)])
    assert not fits_one_put([Report(str(i), "N") for i in range(10_001)])
    assert not fits_one_put([Report(str(i), "𝔑" * 128) for i in range(3_000)])  # 4-byte characters


def test_lookup_answers_unpublished_entries_and_says_which_are_our_own(hub: HubServer) -> None:
    a = HubClient(hub.url, hub.add_seller("store-a"))
    b = HubClient(hub.url, hub.add_seller("store-b"))
    a.push_reports([Report("7", "Seven", "fraud")])  # one reporter: below publication, still looked up
    b.push_reports([Report("8", "Eight", "fraud")])
    found = {f.entry.member_id: f for f in a.lookup(["7", "8", "9"])}
    assert set(found) == {"7", "8"}
    assert (found["7"].own_report, found["7"].other_reporters) == (True, 0)
    assert (found["8"].own_report, found["8"].other_reporters) == (False, 1)


def test_the_private_record_round_trips_and_stays_private(hub: HubServer) -> None:
    a = HubClient(hub.url, hub.add_seller("store-a"))
    b = HubClient(hub.url, hub.add_seller("store-b"))
    a.post_record([RecordChange("auto", "add", "5", "Five"), RecordChange("allow", "add", "6")])
    a.post_record([RecordChange("auto", "add", "55", "Fifty-five"), RecordChange("auto", "remove", "5")])
    record = a.record()
    assert (record.auto, record.allow) == ({"55": "Fifty-five"}, {"6"})
    other = b.record()
    assert (other.auto, other.allow) == ({}, set())
