"""The sync engine and share-all against the real mock backend (real Chromium) and a real hub over HTTP."""

from __future__ import annotations

import threading
from collections.abc import Callable

from sync_world import Agent, HubServer, reported_on_hub

from fixtures.mock_backend.testing import MockControl

MakeAgent = Callable[..., Agent]


def caught_elsewhere(mock: MockControl, hub: HubServer, name: str, stores: int = 2) -> str:
    """A new buyer reported by `stores` other stores straight to the hub (no browser needed)."""
    member_id = str(mock.add_buyer(name)["member_id"])
    reported_on_hub(hub, member_id, name, stores)
    return member_id


def test_share_all_pushes_the_sellers_entries_and_a_second_run_changes_nothing(
    make_agent: MakeAgent, mock_backend: MockControl, hub: HubServer
) -> None:
    a = make_agent("store-a")
    own = len(mock_backend.blacklist_ids("store-a"))

    dry = a.share_all(dry_run=True)
    assert (dry.pushed, dry.withdrawn) == (own, 0)
    assert hub.admin().__enter__().stats()["reports"] == 0

    first = a.share_all()
    assert (first.pushed, first.unchanged, first.withdrawn) == (own, 0, 0)
    second = a.share_all()
    assert (second.pushed, second.unchanged, second.withdrawn) == (0, own, 0)

    gone = mock_backend.blacklist_ids("store-a")[0]
    mock_backend.unblacklist("store-a", gone)  # the seller forgives a buyer: the report is withdrawn
    assert a.sync().withdrawals_pushed == 1
    assert a.hub_client.entry(gone) is None


def test_buyer_caught_by_two_stores_is_blacklisted_in_a_third_and_one_report_is_not_enough(
    make_agent: MakeAgent, mock_backend: MockControl, hub: HubServer
) -> None:
    a, c = make_agent("store-a"), make_agent("store-c")
    x = caught_elsewhere(mock_backend, hub, "Xavier Twice", stores=1)
    y = str(mock_backend.add_buyer("Yvonne Once")["member_id"])
    mock_backend.blacklist("store-a", x)  # store A catches both; X was also caught elsewhere
    mock_backend.blacklist("store-a", y)
    a.share_all()

    report = c.sync()

    assert report.ok
    assert x in mock_backend.blacklist_ids("store-c")
    assert y not in mock_backend.blacklist_ids("store-c")
    assert [(e.member_id, e.reporters) for e in report.added if e.member_id == x] == [(x, 2)]
    # Rule 1: C's share-all leaves X at two reporters: an automatic entry is never C's report.
    c.share_all()
    shared = c.hub_client.entry(x)
    assert shared is not None
    assert shared.reporters == 2


def test_seller_removal_of_an_automatic_entry_allowlists_the_buyer(
    make_agent: MakeAgent, mock_backend: MockControl, hub: HubServer
) -> None:
    c = make_agent("store-c")
    x = caught_elsewhere(mock_backend, hub, "Xavier Twice")
    c.sync()
    mock_backend.unblacklist("store-c", x)  # the seller of C disagrees

    report = c.sync()

    assert report.allowlisted_by_seller == [x]
    assert x in c.state.allowlist.ids()
    assert x not in mock_backend.blacklist_ids("store-c")
    assert report.withdrawals_pushed == 0  # it was never C's report


def test_withdrawn_reports_retract_automatic_entries_but_never_manual_ones(
    make_agent: MakeAgent, mock_backend: MockControl, hub: HubServer
) -> None:
    c = make_agent("store-c")
    x = str(mock_backend.add_buyer("Xavier Twice")["member_id"])
    mine = str(mock_backend.add_buyer("Manuel Manual")["member_id"])
    mock_backend.blacklist("store-c", mine)  # C's seller caught this one by hand too
    others = reported_on_hub(hub, x, "Xavier Twice", 2) + reported_on_hub(hub, mine, "Manuel Manual", 2)
    c.sync()
    for client in others:  # every other store withdraws
        client.withdraw(x)
        client.withdraw(mine)

    report = c.sync()

    assert [r.member_id for r in report.retracted] == [x]
    assert x not in mock_backend.blacklist_ids("store-c")
    assert mine in mock_backend.blacklist_ids("store-c")
    assert c.state.audit.recent(member_id=x)[0].action == "retract"


def test_reports_wait_in_the_outbox_while_the_hub_is_down(
    make_agent: MakeAgent, mock_backend: MockControl, hub: HubServer
) -> None:
    a = make_agent("store-a")
    a.share_all()
    x = str(mock_backend.add_buyer("Xavier Later")["member_id"])
    mock_backend.blacklist("store-a", x)
    hub.stop()

    down = a.sync()
    assert down.outcome == "partial"
    assert down.outbox_pending == 1

    hub.start()
    up = a.sync()
    assert (up.outcome, up.reports_pushed, up.outbox_pending) == ("ok", 1, 0)
    # One reporter is below the feed's threshold; the hub's lookup shows the report is there, and ours.
    (found,) = a.hub_client.lookup([x])
    assert (found.entry.member_id, found.own_report) == (x, True)


def test_dry_run_changes_nothing_in_the_store_the_hub_or_the_state(
    make_agent: MakeAgent, mock_backend: MockControl, hub: HubServer
) -> None:
    c = make_agent("store-c")
    x = caught_elsewhere(mock_backend, hub, "Xavier Twice")
    mock_backend.blacklist("store-c", str(mock_backend.add_buyer("Norah New")["member_id"]))
    store_before = mock_backend.blacklist_ids("store-c")
    with hub.admin() as admin:
        hub_before = admin.stats()

    report = c.sync(dry_run=True)

    assert x in [e.member_id for e in report.added]  # what a real run would do
    assert report.reports_pushed == len(store_before)
    assert mock_backend.blacklist_ids("store-c") == store_before
    with hub.admin() as admin:
        assert admin.stats() == hub_before
    assert c.state.blacklist.known() == {}
    assert c.state.outbox.items() == []
    assert c.state.cycles.last() is None


def test_a_stop_or_a_crash_mid_cycle_never_duplicates_or_shares_an_automatic_entry(
    make_agent: MakeAgent, mock_backend: MockControl, hub: HubServer
) -> None:
    c = make_agent("store-c")
    x = caught_elsewhere(mock_backend, hub, "Xavier Twice")
    stop = threading.Event()
    stop.set()  # SIGTERM before the cycle reaches the store: it saves what it read and stops
    assert c.sync(stop=stop).outcome == "stopped"
    assert x not in mock_backend.blacklist_ids("store-c")
    # The agent recorded its intent and the store acted, then the process was killed before the result
    # was saved.
    c.state.intents.record("add", x, "Xavier Twice", why="add", provenance={"reporters": 2}, score=50)
    mock_backend.blacklist("store-c", x)

    report = c.sync()

    assert x not in report.new_manual
    assert c.state.blacklist.known()[x].origin == "agent"
    assert [e.member_id for e in report.added] == []  # not added twice
    shared = c.hub_client.entry(x)
    assert shared is not None
    assert shared.reporters == 2
