"""Reports age: half weight after report_stale_days, gone after report_ttl_days unless confirmed."""

from __future__ import annotations

from hub.maintenance import due_for_review, sweep
from tests.hub.support import HubClient, report


def test_unconfirmed_report_turns_stale_then_expires_into_a_tombstone(hub: HubClient) -> None:
    a = hub.add_seller("a")
    hub.push(a, report("m1"))
    cursor = hub.feed(a)["next_cursor"]
    hub.clock.advance(days=91)
    assert hub.entry(a, "m1")["score"] == 29
    changes = hub.feed(a, cursor)["changes"]
    assert [(c["member_id"], c["entry"]["score"]) for c in changes] == [("m1", 29)]
    cursor = hub.feed(a, cursor)["next_cursor"]
    hub.clock.advance(days=90)
    assert hub.entry(a, "m1") is None
    assert hub.feed(a, cursor)["changes"][0]["deleted"] is True
    me = hub.get("/v1/me", headers=a).json()
    assert (me["reports"], me["live_reports"]) == (1, 0)


def test_confirming_a_report_keeps_it_alive(hub: HubClient) -> None:
    a, b = hub.add_seller("a"), hub.add_seller("b")
    hub.push(a, report("m1"))
    hub.push(b, report("m1"))
    hub.clock.advance(days=170)
    hub.push(a, report("m1"))  # a confirms; b does not
    hub.clock.advance(days=20)
    entry = hub.entry(a, "m1")
    assert (entry["reporters"], entry["score"]) == (1, 50)


def test_an_expired_report_sent_again_counts_again(hub: HubClient) -> None:
    a = hub.add_seller("a")
    hub.push(a, report("m1"))
    hub.clock.advance(days=200)
    assert hub.entry(a, "m1") is None
    assert hub.push(a, report("m1"))["unchanged"] == 1
    assert hub.entry(a, "m1")["reporters"] == 1


def test_the_sweep_command_applies_expiry_without_readers(hub: HubClient) -> None:
    a = hub.add_seller("a")
    hub.push(a, report("m1"))
    hub.clock.advance(days=181)
    with hub.admin() as admin:
        assert admin.sweep() == 1
        assert admin.stats()["entries_live"] == 0


def test_confirmation_postpones_ageing_even_when_the_entry_looks_the_same(hub: HubClient) -> None:
    a = hub.add_seller("a")
    hub.push(a, report("m1"))
    hub.clock.advance(days=10)
    hub.push(a, report("m1"))  # confirmed: stale only from day 100
    hub.clock.advance(days=85)
    assert hub.entry(a, "m1")["score"] == 50
    with hub.context.db.read() as session:  # the sweep moved its review time on, to day 100
        assert not due_for_review(session, hub.clock())
    cursor = hub.feed(a)["next_cursor"]
    hub.clock.advance(days=6)
    assert hub.entry(a, "m1")["score"] == 29
    assert [c["member_id"] for c in hub.feed(a, cursor)["changes"]] == ["m1"]


def test_expiry_is_swept_in_batches(hub: HubClient) -> None:
    a = hub.add_seller("a")
    hub.push(a, *[report(f"m{i}") for i in range(5)])
    hub.clock.advance(days=181)
    with hub.context.db.write() as session:
        assert sweep(session, hub.clock(), hub.context.ageing, batch=2) == (2, True)
    with hub.admin() as admin:
        assert admin.sweep() == 3
        assert admin.stats()["entries_live"] == 0
