"""Long work and the seller's levers from the CLI: progress counters, previews (`share-all --dry-run`,
`undo --dry-run`), and taking a buyer off or onto the allowlist. Real CLI, mock backend, Chromium, hub."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from agent.cli.progress_view import ProgressView
from agent.config import load_settings
from agent.secrets import SecretName, store_secret
from agent.sync.progress import Progress
from fixtures.mock_backend.testing import MockControl
from tests.agent.cli_support import LiveHub, cli, init_agent, isolate, live_hub, use_hub


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    yield from isolate(tmp_path, monkeypatch)


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[LiveHub]:
    with live_hub(tmp_path) as running:
        yield running


@pytest.fixture
def store_a(tmp_path: Path, mock_backend: MockControl, hub: LiveHub) -> Path:
    """store-a's agent, set up as a seller would (password and hub token in the keyring); its config."""
    login, password = mock_backend.credentials("store-a")
    config = init_agent(tmp_path, mock_backend.url, login)
    use_hub(config, hub.url)
    settings = load_settings(config)
    store_secret(settings, SecretName.BACKEND_PASSWORD, password)
    store_secret(settings, SecretName.HUB_TOKEN, hub.token)
    return config


def shared_buyer(mock_backend: MockControl, hub: LiveHub, name: str = "Rex Fraudster") -> tuple[str, str]:
    """A buyer two other stores report on the hub: the policy blacklists them at store-a's next sync."""
    buyer = mock_backend.add_buyer(name)
    hub.report_as_others(buyer["member_id"], buyer["name"])
    return buyer["member_id"], buyer["name"]


# --- progress ----------------------------------------------------------------------------------------------


def test_plain_progress_is_a_few_lines_per_stage_not_one_per_buyer() -> None:
    out = io.StringIO()
    with ProgressView(Console(file=out, force_terminal=False)) as view:
        view(Progress("blacklist", 0, None, "reading"))
        view(Progress("blacklist", 600, 600, "read"))
        for done in range(1, 1001):
            view(Progress("add", done, 1000, str(done)))

    lines = out.getvalue().splitlines()
    assert lines[:2] == ["Reading your blacklist…", "Reading your blacklist: 600 of 600"]
    assert lines[-1] == "Blacklisting buyers from the shared list: 1000 of 1000"
    assert len(lines) <= 2 + 11


def test_a_terminal_gets_a_progress_bar_with_counters() -> None:
    out = io.StringIO()
    with ProgressView(Console(file=out, force_terminal=True, width=100)) as view:
        view(Progress("share", 0, 1500, "pushing"))
        view(Progress("share", 1500, 1500, "pushed"))

    assert "Pushing your blacklist to the hub" in out.getvalue()
    assert "1500/1500" in out.getvalue()


def test_share_all_shows_progress_and_its_dry_run_lists_the_buyers(
    store_a: Path, mock_backend: MockControl
) -> None:
    blacklist = {e["member_id"]: e["name"] for e in mock_backend.store("store-a")["blacklist"]}

    preview = cli("--config", str(store_a), "share-all", "--dry-run")
    as_json = cli("--config", str(store_a), "share-all", "--dry-run", "--json")
    shared = cli("--config", str(store_a), "share-all")
    again = cli("--config", str(store_a), "share-all", "--dry-run")

    assert preview.exit_code == 0, preview.output
    for member_id, name in blacklist.items():
        assert f"{name} ({member_id})" in preview.stdout
    assert f"Reading your blacklist: {len(blacklist)} of {len(blacklist)}" in preview.stderr
    data = json.loads(as_json.stdout)
    assert set(data["to_push"]) == set(blacklist)
    assert data["names"] == blacklist
    assert shared.exit_code == 0, shared.output
    assert f"Pushing your blacklist to the hub: {len(blacklist)} of {len(blacklist)}" in shared.stderr
    assert "Nothing would change on the hub." in again.stdout


def test_first_sync_counts_its_steps_on_stderr_and_keeps_stdout_for_the_result(
    store_a: Path, mock_backend: MockControl, hub: LiveHub
) -> None:
    member_id, _ = shared_buyer(mock_backend, hub)

    result = cli("--config", str(store_a), "sync", "--json")

    assert result.exit_code == 0, result.output
    assert [a["member_id"] for a in json.loads(result.stdout)["added"]] == [member_id]
    for step in ("Logging in to your store…", "Reading your blacklist: ", "Reading new orders: ",
                 "Pulling the shared list…", "Blacklisting buyers from the shared list: 1 of 1"):  # fmt: skip
        assert step in result.stderr


# --- previews and levers ------------------------------------------------------------------------------------


def test_seller_previews_an_undo_and_allow_says_what_removes_the_agents_entry(
    store_a: Path, mock_backend: MockControl, hub: LiveHub
) -> None:
    member_id, name = shared_buyer(mock_backend, hub)
    assert cli("--config", str(store_a), "sync").exit_code == 0

    preview = cli("--config", str(store_a), "undo", member_id, "--dry-run")
    allowed = cli("--config", str(store_a), "allow", member_id)

    assert f"Would remove {name} ({member_id}) and put them on the allowlist." in preview.output
    assert member_id in mock_backend.blacklist_ids("store-a")  # the dry run changed nothing
    assert "allowing does not remove that entry" in allowed.output
    assert f"`blacklist-agent --config {store_a} allow --undo {member_id}`" in allowed.output
    assert member_id in mock_backend.blacklist_ids("store-a")

    undone = cli("--config", str(store_a), "allow", "--undo", member_id)

    assert undone.exit_code == 0, undone.output
    assert f"Removed {name} ({member_id}) from your blacklist and put them on the allowlist." in undone.output
    assert member_id not in mock_backend.blacklist_ids("store-a")


def test_disallow_lets_the_shared_list_blacklist_the_buyer_again(
    store_a: Path, mock_backend: MockControl, hub: LiveHub
) -> None:
    member_id, _ = shared_buyer(mock_backend, hub)
    cli("--config", str(store_a), "allow", member_id)
    assert cli("--config", str(store_a), "sync").exit_code == 0
    assert member_id not in mock_backend.blacklist_ids("store-a")  # allowlisted: never added

    disallowed = cli("--config", str(store_a), "disallow", member_id)
    again = cli("--config", str(store_a), "disallow", member_id)
    synced = cli("--config", str(store_a), "sync")

    assert "is off the allowlist" in disallowed.output
    assert "was not on the allowlist; nothing changed" in again.output
    assert synced.exit_code == 0, synced.output
    assert member_id in mock_backend.blacklist_ids("store-a")
