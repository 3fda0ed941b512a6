"""A cycle's request budget: a sync that needs more requests than the budget ends as a clear partial
success, and the next cycle finishes the work with nothing lost and nothing added twice; a share-all over
it pushes nothing and names the setting to raise."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sync_world import Agent, HubServer, agent_settings, reported_on_hub

from agent.backend.driver import PlaywrightBackend
from agent.config import Settings
from agent.errors import BudgetExhausted
from agent.hub_client import HubClient
from agent.session import AgentSession
from fixtures.mock_backend.testing import MockControl


def kept_session(settings: Settings, password: str, client: HubClient) -> AgentSession:
    """One browser for every cycle, as a long-running agent may keep it; each cycle has its own budget."""
    return AgentSession(settings, password=password, hub=client, keep_backend=True)


def store_c_agents(mock_backend: MockControl, hub: HubServer, tmp_path: Path) -> Callable[..., Agent]:
    """A maker of store-c's agents, all on one data dir and one hub seller, each keeping its browser;
    `budget` gives one its own `backend.request_budget`."""
    login, password = mock_backend.credentials("store-c")
    settings = agent_settings(tmp_path / "c", mock_backend.url, login, hub.url)
    client = HubClient(hub.url, hub.add_seller("store-c"))
    hub.clients.append(client)

    def agent(budget: int | None = None) -> Agent:
        chosen = settings
        if budget is not None:
            backend = settings.backend.model_copy(update={"request_budget": budget})
            chosen = settings.model_copy(update={"backend": backend})
        return Agent("store-c", chosen, password, client, kept_session(chosen, password, client))

    return agent


def requests_of(agent: Agent) -> int:
    with agent.session.backend() as backend:
        assert isinstance(backend, PlaywrightBackend)
        return backend.requests


def test_a_sync_over_its_budget_stops_partial_and_the_next_one_finishes_without_duplicates(
    mock_backend: MockControl, hub: HubServer, tmp_path: Path
) -> None:
    agent_with = store_c_agents(mock_backend, hub, tmp_path)
    warm = agent_with()
    assert warm.sync().outcome == "ok"  # logs in and saves the session; nothing to add yet
    logged_in = requests_of(warm)
    assert warm.sync().outcome == "ok"
    reads = requests_of(warm) - logged_in  # what a cycle costs before it changes anything
    warm.session.close()
    buyers = [mock_backend.add_buyer(f"Budget Buyer {i}") for i in range(10)]
    for b in buyers:
        reported_on_hub(hub, b["member_id"], b["name"], 2)
    before = set(mock_backend.blacklist_ids("store-c"))

    budget = reads + len(buyers)  # the reads and about half of the additions (two requests each)
    agent = agent_with(budget)

    first = agent.sync()

    assert first.outcome == "partial"
    assert any(f"budget of {budget} requests" in e and "backend.request_budget" in e for e in first.errors)
    added_first = {a.member_id for a in first.added}
    assert 0 < len(added_first) < len(buyers)
    assert requests_of(agent) <= budget

    second = agent.sync()

    assert second.outcome == "ok", second.errors
    wanted = {b["member_id"] for b in buyers}
    assert set(mock_backend.blacklist_ids("store-c")) == before | wanted
    assert set(agent.state.blacklist.automatic()) == wanted
    adds = [r.member_id for r in agent.state.audit.recent(limit=1000) if r.action == "add"]
    assert sorted(adds) == sorted(wanted)  # each buyer added once, none lost, none twice
    agent.session.close()


def test_share_all_over_its_budget_pushes_nothing_and_says_which_setting_to_raise(
    mock_backend: MockControl, hub: HubServer, tmp_path: Path
) -> None:
    agent = store_c_agents(mock_backend, hub, tmp_path)
    for i in range(45):  # more than one page of the blacklist
        mock_backend.blacklist("store-c", mock_backend.add_buyer(f"Own Buyer {i}")["member_id"])
    own = len(mock_backend.blacklist_ids("store-c"))
    warm = agent()
    client = warm.hub_client
    warm.share_all(dry_run=True)  # logs in and saves the session
    measured = agent()
    measured.share_all(dry_run=True)
    needed = requests_of(measured)  # a share-all's backend requests: the session, then the blacklist's pages

    with pytest.raises(BudgetExhausted) as caught:
        agent(budget=needed - 1).share_all()

    message = str(caught.value)
    assert "share-all" in message
    assert "nothing was pushed" in message
    assert "request_budget in the [backend] section" in message
    assert "next cycle" not in message  # a cycle carries on next time; share-all starts over
    assert client.me()["reports"] == 0
    report = agent(budget=needed).share_all()
    assert report.ok
    assert client.me()["reports"] == own
