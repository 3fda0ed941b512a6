"""A full blacklist, and alerts about orders from buyers on the shared list."""

from __future__ import annotations

from collections.abc import Callable

from sync_world import Agent, HubServer, reported_on_hub

from fixtures.mock_backend.testing import MockControl

MakeAgent = Callable[..., Agent]


def buyer(mock: MockControl, name: str) -> str:
    return str(mock.add_buyer(name)["member_id"])


def test_full_blacklist_evicts_lower_score_automatic_entries_never_manual_ones_until_the_limit_rises(
    make_agent: MakeAgent, mock_backend: MockControl, hub: HubServer
) -> None:
    c = make_agent("store-c")
    manual = set(mock_backend.blacklist_ids("store-c"))
    mock_backend.set_faults(blacklist_capacity=len(manual) + 1)
    weak, strong, other = (
        buyer(mock_backend, "Wes Weak"),
        buyer(mock_backend, "Sid Strong"),
        buyer(mock_backend, "Oli"),
    )
    reported_on_hub(hub, weak, "Wes Weak", 2)
    assert [a.member_id for a in c.sync().added] == [weak]

    reported_on_hub(hub, strong, "Sid Strong", 3)
    report = c.sync()
    assert [a.member_id for a in report.evicted] == [weak]
    assert [a.member_id for a in report.added] == [strong]

    reported_on_hub(hub, other, "Oli", 2)
    report = c.sync()
    assert report.blacklist_full
    assert report.added == []
    assert set(mock_backend.blacklist_ids("store-c")) == manual | {strong}

    mock_backend.set_faults(blacklist_capacity=1000)  # the marketplace raised the limit
    assert {a.member_id for a in c.sync().added} == {weak, other}


def test_an_order_from_a_buyer_on_the_shared_list_is_an_alert_even_below_the_threshold(
    make_agent: MakeAgent, mock_backend: MockControl, hub: HubServer
) -> None:
    c = make_agent("store-c")
    suspect = buyer(mock_backend, "Sue Spect")
    reported_on_hub(hub, suspect, "Sue Spect", 1, reason="chargeback")
    mock_backend.place_order("store-c", suspect)

    report = c.sync()

    assert suspect not in mock_backend.blacklist_ids("store-c")  # one reporter: below the threshold
    (alert,) = report.alerts
    assert (alert["member_id"], alert["reporters"], alert["reasons"]) == (suspect, 1, {"chargeback": 1})
    assert [a.member_id for a in c.state.alerts.recent()] == [suspect]


def test_a_good_customer_on_the_shared_list_is_flagged_for_review_not_blacklisted(
    make_agent: MakeAgent, mock_backend: MockControl, hub: HubServer
) -> None:
    c = make_agent("store-c", protect_min_orders=1)
    orders = mock_backend.store("store-c", full=True)["orders"]
    loyal = next(o for o in orders if o["status"] == "Completed")
    reported_on_hub(hub, loyal["member_id"], loyal["buyer_name"], 2)

    report = c.sync()

    assert loyal["member_id"] not in mock_backend.blacklist_ids("store-c")
    assert [r.member_id for r in report.review] == [loyal["member_id"]]
    assert [r.member_id for r in c.state.review.items()] == [loyal["member_id"]]
