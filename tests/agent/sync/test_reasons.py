"""Reasons of the seller's reports: the warning when `policy.reasons` can match nothing, and the CLI's
`blacklist add --reason` against the real mock backend and hub."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sync_world import CHROMIUM, HubServer, reported_on_hub
from typer.testing import CliRunner

from agent.cli import app
from agent.hub_client import HubClient
from agent.sync.reasons import reasons_warning
from fixtures.mock_backend.testing import MockControl

runner = CliRunner()


def test_no_reason_filter_never_warns() -> None:
    assert reasons_warning([], "unspecified", [{"unspecified": 3}]) is None


def test_a_filter_that_no_shared_entry_matches_warns() -> None:
    warning = reasons_warning(["fraud"], "unspecified", [{"unspecified": 2}, {"abusive": 1}])
    assert warning is not None
    assert "matches none of the 2 shared entries" in warning


def test_a_filter_that_some_shared_entry_matches_is_fine() -> None:
    assert reasons_warning(["fraud"], "unspecified", [{"unspecified": 2}, {"fraud": 1}]) is None


def test_with_nothing_shared_yet_a_filter_excluding_the_own_default_reason_warns() -> None:
    warning = reasons_warning(["fraud", "chargeback"], "unspecified", [])
    assert warning is not None
    assert "excludes 'unspecified'" in warning
    assert reasons_warning(["fraud"], "fraud", []) is None


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mock_backend: MockControl, hub: HubServer) -> Any:
    login, password = mock_backend.credentials("store-c")
    config = tmp_path / "agent.toml"
    browser = f'executable = "{CHROMIUM}"' if CHROMIUM.exists() else ""
    config.write_text(
        f'data_dir = "{tmp_path / "data"}"\n'
        f'[backend]\nbase_url = "{mock_backend.url}"\nusername = "{login}"\n'
        f'[browser]\n{browser}\n[hub]\nurl = "{hub.url}"\n[policy]\nreasons = ["fraud"]\n'
    )
    monkeypatch.setenv("BLACKLIST_AGENT_BACKEND_PASSWORD", password)
    monkeypatch.setenv("BLACKLIST_AGENT_HUB_TOKEN", hub.add_seller("store-c"))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyrings.alt.file.PlaintextKeyring")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, ["--config", str(config), *args])
        assert result.exit_code == code, result.output
        return result.output

    return run


def test_blacklist_add_with_a_reason_reports_it_to_the_hub(
    cli: Any, mock_backend: MockControl, hub: HubServer
) -> None:
    x = str(mock_backend.add_buyer("Carla Cli")["member_id"])

    output = cli("blacklist", "add", x, "Carla Cli", "--reason", "fraud")

    assert "Reported to the hub (reason: fraud)" in output
    assert x in mock_backend.blacklist_ids("store-c")
    observer = HubClient(hub.url, hub.add_seller("observer"))
    hub.clients.append(observer)
    (found,) = observer.lookup([x])  # a lone report is below the feed's threshold: the lookup shows it
    assert dict(found.entry.reasons) == {"fraud": 1}


def test_blacklist_add_refuses_an_unknown_reason_before_touching_the_store(
    cli: Any, mock_backend: MockControl
) -> None:
    x = str(mock_backend.add_buyer("Ursula Unknown")["member_id"])

    output = cli("blacklist", "add", x, "Ursula Unknown", "--reason", "rude", code=2)

    assert "chargeback" in output  # names the reasons it knows
    assert x not in mock_backend.blacklist_ids("store-c")


def test_status_warns_when_the_reason_filter_matches_no_shared_entry(
    cli: Any, mock_backend: MockControl, hub: HubServer
) -> None:
    x = str(mock_backend.add_buyer("Nora Noreason")["member_id"])
    reported_on_hub(hub, x, "Nora Noreason", 2, reason="unspecified")
    cli("sync")

    output = cli("status")

    assert "policy.reasons (fraud) matches none of the" in output.replace("\n", " ")
    assert x not in mock_backend.blacklist_ids("store-c")  # which is what the warning is about
