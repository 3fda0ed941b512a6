"""What the agent's CLI tests share: the real CLI in-process, a seller's config, the real hub on loopback.

The tests run the real Typer app (`CliRunner`) or the real command (`python -m agent`) against the real mock
backend (Chromium) and the real hub (FastAPI on SQLite, served by uvicorn), with the real keyring library and
its file backend under a temporary XDG_DATA_HOME.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import keyring
import pytest
import uvicorn
from typer.testing import CliRunner, Result

from agent.cli import app
from hub.admin import add_seller
from hub.app import create_app
from hub.db import migrate
from hub.settings import HubSettings

runner = CliRunner()


def isolate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Temp config/data dirs and the real file keyring in a temp XDG_DATA_HOME (use as an autouse fixture)."""
    for name in list(os.environ):
        if name.upper().startswith("BLACKLIST_AGENT_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyrings.alt.file.PlaintextKeyring")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    previous = keyring.get_keyring()
    keyring.core.init_backend()
    yield
    keyring.set_keyring(previous)


def cli(*args: str, input: str | None = None) -> Result:
    return runner.invoke(app, list(args), input=input)


def wait_for(produce: Callable[[], str | None], attempts: int = 300) -> str:
    for _ in range(attempts):
        value = produce()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("the value never appeared")


def init_agent(tmp_path: Path, base_url: str, username: str, *extra: str) -> Path:
    config = tmp_path / "agent.toml"
    result = cli(
        "--config", str(config), "init", "--base-url", base_url, "--username", username,
        "--data-dir", str(tmp_path / "data"), *extra,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return config


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class LiveHub:
    """The real hub on loopback; `token` is store-a's, `report_as_others` makes other stores report."""

    url: str
    database_url: str
    token: str

    def report_as_others(self, member_id: str, name: str, *, stores: int = 2, reason: str = "fraud") -> None:
        for n in range(stores):
            token = add_seller(self.database_url, f"Other store {n}", f"other-{n}-{member_id}")
            body = {"reports": [{"member_id": member_id, "name": name, "reason": reason}]}
            response = httpx.post(
                f"{self.url}/v1/reports", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=10
            )
            response.raise_for_status()


@contextmanager
def live_hub(tmp_path: Path) -> Iterator[LiveHub]:
    """The real hub over SQLite, served by uvicorn on loopback, with store-a's seller account."""
    database_url = f"sqlite:///{tmp_path / 'hub.sqlite3'}"
    migrate(database_url)
    token = add_seller(database_url, "Aurora Gadgets", "store-a")
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(HubSettings(database_url=database_url)), port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: "up" if server.started else None)
    try:
        yield LiveHub(f"http://127.0.0.1:{port}", database_url, token)
    finally:
        server.should_exit = True
        thread.join(15)


def use_hub(config: Path, hub_url: str) -> None:
    """Point an `init`-written config at the hub."""
    config.write_text(config.read_text().replace('# url = "https://hub.example.org"', f'url = "{hub_url}"'))
