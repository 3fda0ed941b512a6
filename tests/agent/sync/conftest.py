"""Fixtures of the sync tests: a real hub (uvicorn on loopback over SQLite) per test, and agents for the
mock backend's stores (helpers in sync_world.py).

The hub database is migrated once per session into a template file and copied for each test, so every
test starts from an empty hub without paying for migrations.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sync_world import Agent, HubServer, agent_settings

from agent.hub_client import HubClient
from agent.session import AgentSession
from fixtures.mock_backend.testing import MockControl
from hub.db import migrate


@pytest.fixture(scope="session")
def hub_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("hub-template") / "hub.sqlite3"
    migrate(f"sqlite:///{path}")
    return path


@pytest.fixture
def hub(hub_template: Path, tmp_path: Path) -> Iterator[HubServer]:
    path = tmp_path / "hub.sqlite3"
    shutil.copy(hub_template, path)
    server = HubServer(f"sqlite:///{path}")
    server.start()
    yield server
    for client in server.clients:
        client.close()
    server.stop()


@pytest.fixture
def make_agent(mock_backend: MockControl, hub: HubServer, tmp_path: Path) -> Iterator[Callable[..., Agent]]:
    agents: list[Agent] = []

    def make(store_id: str, **policy: Any) -> Agent:
        login, password = mock_backend.credentials(store_id)
        settings = agent_settings(tmp_path / store_id, mock_backend.url, login, hub.url, policy)
        token = hub.add_seller(store_id)
        client = HubClient(hub.url, token, max_retries=1, backoff=0.01)
        session = AgentSession(settings, password=password, hub=client, keep_backend=True)
        agent = Agent(store_id, settings, password, client, session)
        agents.append(agent)
        return agent

    yield make
    for agent in agents:
        agent.session.close()
        agent.hub_client.close()
