"""Live protection against the real mock backend (real Chromium) and a real hub over HTTP: the long-poll
waiter, the apply-only step, the head check, and the seller's own entries reported at once with a reason.

No durations are asserted: each test counts hub and backend requests and checks what the store and the hub
hold after the waiter woke.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import httpx
import pytest
from sync_world import Agent, HubServer, reported_on_hub

from agent.config import SharingSettings
from agent.hub_client import HubClient
from agent.hub_models import SharedEntry
from agent.session import AgentSession
from agent.sync.live import FeedWaiter
from fixtures.mock_backend.testing import MockControl

MakeAgent = Callable[..., Agent]


def listening(agent: Agent, hub: HubServer, *, wait_seconds: int = 30) -> tuple[FeedWaiter, HubClient]:
    """A waiter as `run` builds it: its own client, no retries."""
    token = agent.hub_client._http.headers["Authorization"].removeprefix("Bearer ")
    client = HubClient(hub.url, token, max_retries=0)
    hub.clients.append(client)
    return FeedWaiter(client, agent.settings.state_db_path, wait_seconds=wait_seconds), client


def own_report(client: HubClient, member_id: str) -> SharedEntry | None:
    """The hub's entry for a buyer this seller reports (a lone report is below the feed's threshold, so
    the lookup is asked, not the entry route); None when the seller does not report them."""
    found = [f for f in client.lookup([member_id]) if f.own_report]
    return found[0].entry if found else None


def in_background(fn: Callable[[], bool]) -> tuple[threading.Thread, list[bool]]:
    result: list[bool] = []
    thread = threading.Thread(target=lambda: result.append(fn()), daemon=True)
    thread.start()
    return thread, result


def store_reads(mock: MockControl) -> tuple[int, int]:
    """Requests so far to the customers (and blacklist) pages and to the orders pages."""
    counts = mock.requests()
    return counts.get("/customers", 0), counts.get("/orders", 0)


def test_a_second_report_wakes_the_wait_and_the_apply_step_blacklists_without_reading_the_store(
    make_agent: MakeAgent, mock_backend: MockControl, hub: HubServer
) -> None:
    c = make_agent("store-c")
    assert c.sync().ok  # the first cycle pulls the shared list: the waiter starts from its cursor
    waiter, client = listening(c, hub)
    x = str(mock_backend.add_buyer("Xena Live")["member_id"])
    reporters = reported_on_hub(hub, x, "Xena Live", 1)
    reads_before = store_reads(mock_backend)

    thread, woke = in_background(lambda: waiter.wait(threading.Event()))
    reporters += reported_on_hub(hub, x, "Xena Live", 1)  # the second report, while the wait is held
    thread.join(60)
    assert woke == [True]
    report = c.session.apply_live()

    assert [a.member_id for a in report.added] == [x]
    assert x in mock_backend.blacklist_ids("store-c")
    assert store_reads(mock_backend) == reads_before  # no customers, orders or blacklist page was read
    assert client.request_count == 1  # one wait, answered by the change
    with pytest.raises(httpx.HTTPStatusError) as refused:
        mock_backend.place_order("store-c", x)  # X's next order in this store is refused
    assert refused.value.response.status_code == 403


def test_a_quiet_wait_costs_one_hub_request_and_nothing_at_the_store(
    make_agent: MakeAgent, mock_backend: MockControl, hub: HubServer
) -> None:
    c = make_agent("store-c")
    c.sync()
    waiter, client = listening(c, hub, wait_seconds=1)
    before = sum(mock_backend.requests().values())

    assert waiter.wait(threading.Event()) is False
    assert waiter.wait(threading.Event()) is False

    assert client.request_count == 2
    assert sum(mock_backend.requests().values()) == before


def test_a_withdrawn_report_wakes_the_wait_and_the_apply_step_retracts(
    make_agent: MakeAgent, mock_backend: MockControl, hub: HubServer
) -> None:
    c = make_agent("store-c")
    x = str(mock_backend.add_buyer("Xavier Retracted")["member_id"])
    reporters = reported_on_hub(hub, x, "Xavier Retracted", 2)
    c.sync()
    assert x in mock_backend.blacklist_ids("store-c")
    waiter, _ = listening(c, hub)

    thread, woke = in_background(lambda: waiter.wait(threading.Event()))
    reporters[0].withdraw(x)  # one reporter withdraws: one left, below the policy's two
    thread.join(60)
    assert woke == [True]
    report = c.session.apply_live()

    assert [r.member_id for r in report.retracted] == [x]
    assert x not in mock_backend.blacklist_ids("store-c")


def test_an_apply_step_with_nothing_to_do_opens_no_browser(
    make_agent: MakeAgent, mock_backend: MockControl, hub: HubServer
) -> None:
    c = make_agent("store-c")
    c.sync()
    x = str(mock_backend.add_buyer("Yuri Once")["member_id"])
    reported_on_hub(hub, x, "Yuri Once", 1)  # one report: below the policy
    before = sum(mock_backend.requests().values())

    report = c.session.apply_live()

    assert report.ok
    assert not report.added
    assert sum(mock_backend.requests().values()) == before


def test_head_check_reports_a_buyer_blacklisted_by_hand_reading_one_page(
    make_agent: MakeAgent, mock_backend: MockControl, hub: HubServer
) -> None:
    a = make_agent("store-a")
    for i in range(60):  # a blacklist of two pages (50 rows a page): the head check reads only the first
        mock_backend.blacklist("store-a", str(mock_backend.add_buyer(f"Earlier {i}")["member_id"]))
    assert a.sync().ok
    x = str(mock_backend.add_buyer("Hank Byhand")["member_id"])
    mock_backend.blacklist("store-a", x)  # in the seller center, not through the agent
    pages_before, orders_before = store_reads(mock_backend)

    found = a.session.head_check()

    assert [e.member_id for e in found] == [x]
    assert own_report(a.hub_client, x) is not None  # reported now, not at the next cycle
    assert store_reads(mock_backend) == (pages_before + 1, orders_before)  # the first page only
    assert a.session.head_check() == []  # seen once, reported once
    assert a.sync().reports_pushed == 0


def test_head_check_waits_for_a_first_full_cycle(
    make_agent: MakeAgent, mock_backend: MockControl, hub: HubServer
) -> None:
    a = make_agent("store-a")
    before = sum(mock_backend.requests().values())

    assert a.session.head_check() == []  # nothing known yet to tell the seller's new entries from the rest

    assert sum(mock_backend.requests().values()) == before
    assert a.state.outbox.counts()["pending"] == 0


def test_blacklist_add_reports_at_once_with_the_sellers_reason(
    make_agent: MakeAgent, mock_backend: MockControl, hub: HubServer
) -> None:
    a = make_agent("store-a")
    x = str(mock_backend.add_buyer("Rita Reason")["member_id"])

    result, shared = a.session.blacklist_add(x, "Rita Reason", reason="chargeback")

    assert result.ok
    assert shared is not None
    assert shared.pushed
    entry = own_report(a.hub_client, x)
    assert entry is not None
    assert dict(entry.reasons) == {"chargeback": 1}
    # The next snapshot (share-all) keeps the reason instead of resetting it to "unspecified".
    a.share_all()
    entry = own_report(a.hub_client, x)
    assert entry is not None
    assert dict(entry.reasons) == {"chargeback": 1}


def test_blacklist_add_while_the_hub_is_down_waits_in_the_outbox(
    make_agent: MakeAgent, mock_backend: MockControl, hub: HubServer
) -> None:
    a = make_agent("store-a")
    x = str(mock_backend.add_buyer("Olga Outbox")["member_id"])
    hub.stop()

    result, shared = a.session.blacklist_add(x, "Olga Outbox", reason="fraud")

    assert result.ok
    assert shared is not None
    assert not shared.pushed
    assert shared.recorded
    assert x in mock_backend.blacklist_ids("store-a")
    assert a.state.outbox.counts()["pending"] == 1
    hub.start()
    assert a.sync().reports_pushed >= 1
    entry = own_report(a.hub_client, x)
    assert entry is not None
    assert dict(entry.reasons) == {"fraud": 1}


def test_remove_withdraws_the_sellers_report_at_once(
    make_agent: MakeAgent, mock_backend: MockControl, hub: HubServer
) -> None:
    a = make_agent("store-a")
    x = str(mock_backend.add_buyer("Walt Withdrawn")["member_id"])
    a.session.blacklist_add(x, "Walt Withdrawn")
    assert own_report(a.hub_client, x) is not None

    a.session.remove(x)

    assert own_report(a.hub_client, x) is None
    assert a.state.outbox.counts()["pending"] == 0


def test_buyers_blacklisted_by_hand_carry_the_default_reason(
    make_agent: MakeAgent, mock_backend: MockControl, hub: HubServer
) -> None:
    a = make_agent("store-a")
    settings = a.settings.model_copy(update={"sharing": SharingSettings(default_reason="dispute_abuse")})
    x = str(mock_backend.add_buyer("Dora Default")["member_id"])
    mock_backend.blacklist("store-a", x)

    with AgentSession(settings, password=a.password, hub=a.hub_client) as session:
        assert session.sync().ok

    entry = own_report(a.hub_client, x)
    assert entry is not None
    assert dict(entry.reasons) == {"dispute_abuse": 1}
