"""Helpers for the sync tests: a real hub served by uvicorn in a thread, agents wired like the CLI wires
them, and reporters that exist only on the hub (other stores, without a browser)."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from agent.config import Settings
from agent.hub_client import HubClient
from agent.hub_models import Report
from agent.session import AgentSession
from agent.state import LocalState
from agent.sync.cycle_result import CycleReport, ShareReport
from hub.admin import HubAdmin
from hub.app import create_app
from hub.settings import HubSettings

CHROMIUM = Path("/usr/bin/chromium")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class HubServer:
    """The hub app served by uvicorn in a thread; can be stopped and restarted on the same port."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.clients: list[HubClient] = []

    def start(self) -> None:
        settings = HubSettings(
            database_url=self.database_url,
            rate_limit_per_minute=60000,
            rate_limit_burst=10000,
            daily_new_reports=100_000,  # large-snapshot tests push thousands of new reports
            publish_interval_seconds=0,  # publish with each write: a test's next pull sees its change
        )
        config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=self.port, log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the hub did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(15)
            self._server = self._thread = None

    def add_seller(self, store_id: str) -> str:
        with HubAdmin(HubSettings(database_url=self.database_url)) as admin:
            return admin.add_seller(f"seller of {store_id}", store_id)[1]

    def admin(self) -> HubAdmin:
        return HubAdmin(HubSettings(database_url=self.database_url))


@dataclass
class Agent:
    """One store's agent: an `AgentSession` that keeps one browser for the whole test (as a long-running
    agent could), with the test's hub client and local state."""

    store_id: str
    settings: Settings
    password: str
    hub_client: HubClient
    session: AgentSession

    @property
    def state(self) -> LocalState:
        return self.session.state

    def sync(self, *, dry_run: bool = False, **kwargs: Any) -> CycleReport:
        return self.session.sync(dry_run=dry_run, **kwargs)

    def share_all(self, *, dry_run: bool = False) -> ShareReport:
        return self.session.share_all(dry_run=dry_run)


def agent_settings(
    data_dir: Path, base_url: str, login: str, hub_url: str, policy: dict[str, Any] | None = None
) -> Settings:
    browser: dict[str, Any] = {"executable": CHROMIUM} if CHROMIUM.exists() else {}
    return Settings(
        data_dir=data_dir,
        backend={"base_url": base_url, "username": login},
        browser=browser,
        hub={"url": hub_url},
        policy=policy or {},
    )


def reported_on_hub(
    hub: HubServer, member_id: str, name: str, reporters: int, reason: str = "fraud"
) -> list[HubClient]:
    """`reporters` other stores (hub sellers without a mock store) report the buyer straight to the hub;
    returns their clients (closed with the hub), e.g. to withdraw later."""
    clients = []
    for _ in range(reporters):
        client = HubClient(hub.url, hub.add_seller(f"elsewhere-{member_id}-{time.monotonic_ns()}"))
        client.push_reports([Report(member_id, name, reason)])
        clients.append(client)
    hub.clients += clients
    return clients
