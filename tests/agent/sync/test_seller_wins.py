"""docs/safety.md rule 3 (the seller always wins) and the blacklist link's name, in the corners a safety
review found: the seller acting while a cycle runs, removing their own entry, and reporters giving a wrong
name."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sync_world import Agent, HubServer, reported_on_hub
from test_sync_engine import MakeAgent, caught_elsewhere

from agent.backend.api import Backend
from agent.models import Order, RemovalOutcome
from agent.session import AgentSession
from fixtures.mock_backend.testing import MockControl


class SellerRemovesFirst:
    """The store's backend, with the seller removing an entry by hand just before the agent asks to."""

    def __init__(self, agent: Agent, mock: MockControl) -> None:
        self._backend: Backend = agent.session.backend().__enter__()
        self._mock, self._store = mock, agent.store_id

    def __enter__(self) -> SellerRemovesFirst:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)

    def remove_from_blacklist(self, member_id: str) -> RemovalOutcome:
        self._mock.unblacklist(self._store, member_id)
        return self._backend.remove_from_blacklist(member_id)


def sync_while_the_seller_removes(agent: Agent, mock: MockControl) -> Any:
    with AgentSession(
        agent.settings, hub=agent.hub_client, backend_factory=lambda: SellerRemovesFirst(agent, mock)
    ) as session:
        return session.sync()


def test_seller_removing_an_automatic_entry_while_the_agent_retracts_it_still_allowlists_the_buyer(
    make_agent: MakeAgent, mock_backend: MockControl, hub: HubServer
) -> None:
    c = make_agent("store-c")
    x = str(mock_backend.add_buyer("Xavier Twice")["member_id"])
    others = reported_on_hub(hub, x, "Xavier Twice", 2)
    c.sync()
    for client in others:
        client.withdraw(x)

    sync_while_the_seller_removes(c, mock_backend)
    reported_on_hub(hub, x, "Xavier Twice", 2)  # caught again elsewhere later
    c.sync()

    assert x in c.state.allowlist.ids()
    assert x not in mock_backend.blacklist_ids("store-c")


def test_a_buyer_the_seller_removed_by_hand_is_not_put_back_by_the_agent(
    make_agent: MakeAgent, mock_backend: MockControl, hub: HubServer
) -> None:
    c = make_agent("store-c")
    x = caught_elsewhere(mock_backend, hub, "Xavier Twice")
    mock_backend.blacklist("store-c", x)  # C's seller caught X too
    c.sync()
    mock_backend.unblacklist("store-c", x)  # and then forgives X

    report = c.sync()

    assert report.manual_removed == [x]
    assert report.withdrawals_pushed == 1
    assert x not in [e.member_id for e in report.added]
    assert x not in mock_backend.blacklist_ids("store-c")
    assert x in c.state.allowlist.ids()


def test_the_blacklist_link_uses_the_buyers_name_as_this_store_knows_it(
    make_agent: MakeAgent, mock_backend: MockControl, hub: HubServer
) -> None:
    c = make_agent("store-c")
    x = str(mock_backend.add_buyer("Xavier Real")["member_id"])
    mock_backend.place_order("store-c", x)  # C knows X from an order
    reported_on_hub(hub, x, "Xavier Misspelt", 2)  # the reporters' name does not match C's store

    report = c.sync()

    assert [e.member_id for e in report.added] == [x]
    assert x in mock_backend.blacklist_ids("store-c")
    assert c.state.blacklist.automatic()[x].name == "Xavier Real"


def test_a_stale_name_from_an_old_order_here_falls_back_to_the_reported_name_in_the_same_cycle(
    make_agent: MakeAgent, mock_backend: MockControl, hub: HubServer
) -> None:
    c = make_agent("store-c")
    x = str(mock_backend.add_buyer("Xavier Now")["member_id"])
    # An order recorded here before the buyer changed their name.
    c.state.orders.record([Order("o-before", x, "Xavier Before", datetime(2025, 1, 1, tzinfo=UTC))])
    reported_on_hub(hub, x, "Xavier Now", 2)

    report = c.sync()

    assert (report.refused, [e.name for e in report.added]) == ([], ["Xavier Now"])
    assert x in mock_backend.blacklist_ids("store-c")


def test_a_buyer_refused_under_both_names_is_not_retried_until_the_hubs_name_changes(
    make_agent: MakeAgent, mock_backend: MockControl, hub: HubServer
) -> None:
    c = make_agent("store-c")
    x = str(mock_backend.add_buyer("Xavier Now")["member_id"])
    c.state.orders.record([Order("o-before", x, "Xavier Before", datetime(2025, 1, 1, tzinfo=UTC))])
    reported_on_hub(hub, x, "Xavier Misspelt", 2)

    assert [e.member_id for e in c.sync().refused] == [x]
    assert c.sync().refused == []  # not asked again: nothing changed
    reported_on_hub(hub, x, "Xavier Now", 3)  # more stores spell it right: the hub's name is the majority's
    assert [e.member_id for e in c.sync().added] == [x]
