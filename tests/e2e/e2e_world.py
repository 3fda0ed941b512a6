"""The end-to-end tests' world: the real mock backend, a real hub over HTTP, and one agent per store.

Agents are configured exactly as a seller would (a TOML config file, secrets in a keyring file through the
real keyring library) and run either in this process (the same functions the CLI calls: fast) or as the
real `blacklist-agent` command in a subprocess (when the process itself matters: exit codes, signals,
kills, two agents side by side).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import keyring
from keyrings.alt.file import PlaintextKeyring

from agent.config import Settings, load_settings
from agent.secrets import SecretName, store_secret
from agent.session import AgentSession
from agent.state import LocalState
from agent.sync.cycle_result import CycleReport, ShareReport
from fixtures.mock_backend.testing import MockControl
from fixtures.serving import ThreadedServer

AGENT_COMMAND = Path(sys.executable).with_name("blacklist-agent")


def wait_until(condition: Callable[[], bool], *, timeout: float = 60, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


class Hub:
    """A hub on SQLite in the test's folder, served over HTTP by uvicorn in a thread."""

    def __init__(self, tmp: Path) -> None:
        from hub.db import migrate
        from hub.settings import HubSettings

        self.database_url = f"sqlite:///{tmp / 'hub.sqlite3'}"
        # Publication with each write (the app's and the operator's), so a test's next step sees its change;
        # the batches of the default (mixing sellers) are tested in tests/hub and timed by bench/ttp.py.
        self.settings = HubSettings(
            database_url=self.database_url, sweep_interval_seconds=0, publish_interval_seconds=0
        )
        migrate(self.database_url)
        self._server: ThreadedServer | None = None
        self.port = 0
        self._observer = self.add_seller("observer", "observer")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        from hub.app import create_app

        app = create_app(self.settings)
        self._server = ThreadedServer(app, "e2e-hub").start(port=self.port)
        self.port = int(self._server.url.rsplit(":", 1)[1])
        wait_until(self.healthy, timeout=10, what="the hub")

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def healthy(self) -> bool:
        try:
            return httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def add_seller(self, name: str, store_id: str) -> str:
        from hub.admin import add_seller

        return add_seller(self.database_url, name, store_id)

    def disable_seller(self, name: str) -> None:
        from hub.admin import HubAdmin

        with HubAdmin(self.settings) as admin:
            admin.set_enabled(name, False)

    def report_as(self, token: str, *buyers: tuple[str, str], reason: str = "fraud") -> None:
        body = {"reports": [{"member_id": m, "name": n, "reason": reason} for m, n in buyers]}
        response = httpx.post(f"{self.url}/v1/reports", json=body, headers=_auth(token), timeout=10)
        response.raise_for_status()

    def reporters(self, member_id: str) -> int:
        """How many stores report the buyer (0: none), as a seller's lookup sees it: unlike the feed, it
        shows an entry below the feed's threshold of two reporters."""
        query = {"member_id": member_id}
        response = httpx.get(f"{self.url}/v1/lookup", params=query, headers=_auth(self._observer), timeout=10)
        response.raise_for_status()
        entries = response.json()["entries"]
        return int(entries[0]["reporters"]) if entries else 0

    def snapshot(self) -> dict[str, Any]:
        """Everything a change would show in: the whole feed and the counters."""
        from hub.admin import HubAdmin

        feed = httpx.get(f"{self.url}/v1/feed", headers=_auth(self._observer), timeout=10).json()
        with HubAdmin(self.settings) as admin:
            stats = admin.stats()
        return {"feed": feed, "stats": stats}


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Outsider:
    """A seller of another store (no agent under test here), or a malicious one: reports through the API."""

    hub: Hub
    name: str
    token: str

    def report(self, *buyers: tuple[str, str], reason: str = "fraud") -> None:
        self.hub.report_as(self.token, *buyers, reason=reason)


@dataclass
class Agent:
    """One store's agent: its config file and data dir, run in-process or as the real command."""

    letter: str
    store_id: str
    config_path: Path
    env: dict[str, str]
    mock: MockControl
    _settings: Settings | None = field(default=None, repr=False)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.config_path)
        return self._settings

    @property
    def data_dir(self) -> Path:
        return self.settings.data_dir

    def blacklist(self) -> set[str]:
        """The store's blacklist as the backend has it (not as the agent believes)."""
        return set(self.mock.blacklist_ids(self.store_id))

    # -- in this process: the functions the CLI commands call ------------------------------------------

    def session(self) -> AgentSession:
        return AgentSession(self.settings)

    def sync(self, *, dry_run: bool = False) -> CycleReport:
        with self.session() as agent:
            return agent.sync(dry_run=dry_run)

    def share_all(self, *, dry_run: bool = False) -> ShareReport:
        with self.session() as agent:
            return agent.share_all(dry_run=dry_run)

    @contextlib.contextmanager
    def state(self) -> Iterator[LocalState]:
        with LocalState.open(self.settings.state_db_path) as state:
            yield state

    # -- as the real command ------------------------------------------------------------------------

    def argv(self, *args: str) -> list[str]:
        return [str(AGENT_COMMAND), "--config", str(self.config_path), *args]

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(*args), env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )

    def start(self, *args: str) -> subprocess.Popen[str]:
        """Start the command in its own process group (so a kill takes its browser with it)."""
        return subprocess.Popen(
            self.argv(*args),
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )


def kill_group(process: subprocess.Popen[str], sig: int = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
    process.wait(timeout=30)


class World:
    """The mock backend (shared, reset after each test), a fresh hub and the stores' agents."""

    def __init__(self, mock: MockControl, tmp: Path) -> None:
        self.mock = mock
        self.tmp = tmp
        self.hub = Hub(tmp)
        self.hub.start()
        self.keyring = PlaintextKeyring()
        self.keyring.file_path = str(tmp / "python_keyring" / "keyring_pass.cfg")
        self._previous_keyring = keyring.get_keyring()
        keyring.set_keyring(self.keyring)
        self.env = {
            k: v for k, v in os.environ.items() if not k.startswith(("BLACKLIST_AGENT_", "BLACKLIST_HUB_"))
        }
        # The subprocesses read the same keyring file through the real keyring library.
        self.env.update(PYTHON_KEYRING_BACKEND="keyrings.alt.file.PlaintextKeyring", XDG_DATA_HOME=str(tmp))
        self.agents: dict[str, Agent] = {}
        self._buyers = 0
        self._outsiders: dict[str, Outsider] = {}

    def close(self) -> None:
        keyring.set_keyring(self._previous_keyring)
        self.hub.stop()

    def agent(self, letter: str, **config: dict[str, Any]) -> Agent:
        """The agent of store `letter` ("a".."c"), registered on the hub; `config` adds TOML sections."""
        if letter in self.agents:
            return self.agents[letter]
        store_id = f"store-{letter}"
        info = self.mock.store(store_id)
        sections: dict[str, dict[str, Any]] = {
            "backend": {"base_url": self.mock.url, "username": info["login"]},
            "hub": {"url": self.hub.url},
            "schedule": {"jitter_seconds": 0},
        }
        for name, values in config.items():
            sections.setdefault(name, {}).update(values)
        data_dir = self.tmp / f"agent-{letter}"
        lines = [f"data_dir = {_toml(str(data_dir))}"]
        for name, values in sections.items():
            lines.append(f"\n[{name}]")
            lines += [f"{key} = {_toml(value)}" for key, value in values.items()]
        config_path = self.tmp / f"agent-{letter}.toml"
        config_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        agent = Agent(letter, store_id, config_path, self.env, self.mock)
        store_secret(agent.settings, SecretName.BACKEND_PASSWORD, info["password"])
        store_secret(agent.settings, SecretName.HUB_TOKEN, self.hub.add_seller(f"Store {letter}", store_id))
        self.agents[letter] = agent
        return agent

    def outsider(self, name: str) -> Outsider:
        """Another seller registered on the hub (once), reporting without an agent."""
        if name not in self._outsiders:
            self._outsiders[name] = Outsider(self.hub, name, self.hub.add_seller(name, f"outsider-{name}"))
        return self._outsiders[name]

    def new_buyer(self, name: str | None = None) -> tuple[str, str]:
        """A buyer of the marketplace that no store knows yet: (member_id, name)."""
        self._buyers += 1
        name = name or f"Buyer {self._buyers} O'Test"
        created = self.mock.add_buyer(name)
        return str(created["member_id"]), name

    def blacklist_by_hand(self, letter: str, *member_ids: str) -> None:
        for member_id in member_ids:
            self.mock.blacklist(f"store-{letter}", member_id)


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
