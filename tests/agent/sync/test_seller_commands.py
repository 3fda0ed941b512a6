"""The seller's commands through the real CLI: sync, status, audit, undo and allow, all with --json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sync_world import CHROMIUM, HubServer, reported_on_hub
from typer.testing import CliRunner

from agent.cli import app
from fixtures.mock_backend.testing import MockControl

runner = CliRunner()


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mock_backend: MockControl, hub: HubServer) -> Any:
    login, password = mock_backend.credentials("store-c")
    config = tmp_path / "agent.toml"
    browser = f'executable = "{CHROMIUM}"' if CHROMIUM.exists() else ""
    config.write_text(
        f'data_dir = "{tmp_path / "data"}"\n'
        f'[backend]\nbase_url = "{mock_backend.url}"\nusername = "{login}"\n'
        f'[browser]\n{browser}\n[hub]\nurl = "{hub.url}"\n'
    )
    monkeypatch.setenv("BLACKLIST_AGENT_BACKEND_PASSWORD", password)
    monkeypatch.setenv("BLACKLIST_AGENT_HUB_TOKEN", hub.add_seller("store-c"))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyrings.alt.file.PlaintextKeyring")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))

    def run(*args: str, code: int = 0) -> Any:
        result = runner.invoke(app, ["--config", str(config), *args])
        assert result.exit_code == code, result.output
        return json.loads(result.stdout) if "--json" in args and code == 0 else result.output

    return run


def test_share_sync_then_undo_removes_the_automatic_entry_allowlists_it_and_audit_shows_why(
    cli: Any, mock_backend: MockControl, hub: HubServer
) -> None:
    x = str(mock_backend.add_buyer("Xavier Twice")["member_id"])
    reported_on_hub(hub, x, "Xavier Twice", 2)
    own = len(mock_backend.blacklist_ids("store-c"))
    assert cli("share-all", "--json")["pushed"] == own

    synced = cli("sync", "--json")
    assert [a["member_id"] for a in synced["added"]] == [x]
    status = cli("status", "--json")
    assert status["blacklist"]["agent"] == 1
    assert status["last_cycle"]["outcome"] == "ok"
    (entry,) = cli("audit", "--json")["automatic_entries"]
    assert (entry["member_id"], entry["provenance"]["reporters"]) == (x, 2)

    assert [u["member_id"] for u in cli("undo", x, "--json")] == [x]
    assert x not in mock_backend.blacklist_ids("store-c")
    assert cli("audit", "--json")["log"][0]["action"] == "undo"
    assert cli("status", "--json")["allowlist"] == 1  # so never re-added (see test_sync_engine)


def test_allow_is_local_and_undo_refuses_what_the_agent_did_not_add(cli: Any) -> None:
    assert cli("allow", "123", "--json")["allowlisted"] is True
    assert cli("allow", "123", "--json")["already"] is True
    assert "not an automatic entry" in cli("undo", "123", code=1)
    assert "MEMBER_ID or --all" in cli("undo", code=2)
