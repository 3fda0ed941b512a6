"""What the agent says in a seller's first hour: each error once with its fix, the `--config` they passed in
every suggested command, timestamps without scheduler internals, plurals, readable audit lines, and the right
diagnosis for a mistyped address or a refused hub token. Real CLI, mock backend, Chromium, hub, keyring."""

from __future__ import annotations

import io
import os
import re
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from agent.cli.app import console as cli_console
from agent.config import load_settings
from agent.scheduler import InstanceLock
from agent.secrets import SecretName, store_secret
from agent.state import LocalState
from agent.sync.cycle_result import BuyerAction, CycleReport
from fixtures.mock_backend.testing import MockControl
from tests.agent.cli_support import LiveHub, cli, free_port, init_agent, isolate, live_hub, use_hub

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ")


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    yield from isolate(tmp_path, monkeypatch)


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[LiveHub]:
    with live_hub(tmp_path) as running:
        yield running


def agent_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a real `blacklist-agent` process, with this test's keyring file."""
    clean = {k: v for k, v in os.environ.items() if not k.upper().startswith("BLACKLIST_AGENT_")}
    return {
        **clean,
        "XDG_DATA_HOME": str(tmp_path / "xdg-data"),
        "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring",
    }


def quoted(config: Path) -> str:
    return shlex.quote(str(config))


# --- each error once ------------------------------------------------------------------------------------


def test_an_error_is_printed_once_not_also_as_a_log_line(tmp_path: Path) -> None:
    config = init_agent(tmp_path, "https://seller.example.com", "me")
    data_dir = load_settings(config).data_dir
    holder = InstanceLock(data_dir)
    holder.acquire()  # another agent runs for this data dir
    try:
        second = subprocess.run(
            [sys.executable, "-m", "agent", "--config", str(config), "run"],
            capture_output=True, text=True, env=agent_env(tmp_path), timeout=60, check=False,
        )  # fmt: skip
    finally:
        holder.release()

    assert second.returncode == 2
    assert second.stderr.count("already running") == 1, second.stderr
    assert "command failed" not in second.stderr


def test_with_v_the_traceback_is_shown_and_the_error_line_is_not_doubled(
    tmp_path: Path, mock_backend: MockControl
) -> None:
    config = init_agent(tmp_path, mock_backend.url, "store-a-login")  # no password stored

    result = cli("--config", str(config), "-v", "blacklist", "list")

    assert result.exit_code == 1
    assert "Traceback" in result.output
    assert result.output.count("error: ") == 1
    assert "command failed" not in result.output
    log = (tmp_path / "data" / "logs" / "cli.log").read_text()
    assert "command failed: no backend password stored" in log  # the log file still has it


def test_run_console_is_timestamped_without_scheduler_internals(tmp_path: Path) -> None:
    config = init_agent(tmp_path, f"http://127.0.0.1:{free_port()}", "me")  # a backend that never answers
    command = [sys.executable, "-m", "agent", "--config", str(config), "run"]
    with subprocess.Popen(
        command, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=agent_env(tmp_path)
    ) as agent:
        assert agent.stderr is not None
        lines: list[str] = []
        for line in agent.stderr:  # the first cycle fails fast: nothing answers at that address
            lines.append(line.rstrip("\n"))
            if "sync cycle 1 failed" in line:
                break
        agent.send_signal(signal.SIGTERM)
        _, rest = agent.communicate(timeout=60)
        lines += rest.splitlines()

    console = "\n".join(lines)
    assert agent.returncode == 0, console
    assert all(TIMESTAMP.match(line) for line in lines if line.strip()), console
    for internal in ("Added job", "Running job", "Scheduler started", "apscheduler", "executed successfully"):
        assert internal not in console
    assert "sync cycle 1 starting" in console
    assert console.count("cannot reach the backend") == 1


# --- commands suggested with the user's --config ----------------------------------------------------------


def test_suggested_commands_name_the_config_the_user_passed(
    tmp_path: Path, mock_backend: MockControl
) -> None:
    config = tmp_path / "my shop.toml"
    init = cli(
        "--config", str(config), "init", "--base-url", mock_backend.url, "--username", "store-a-login",
        "--data-dir", str(tmp_path / "data"),
    )  # fmt: skip
    listed = cli("--config", str(config), "blacklist", "list")

    assert f"Next: `blacklist-agent --config {quoted(config)} login` to store the password" in init.output
    assert f"run `blacklist-agent --config {quoted(config)} login`" in listed.output
    log = (tmp_path / "data" / "logs" / "cli.log").read_text()
    assert f"`blacklist-agent --config {quoted(config)} login`" in log


def test_without_config_the_suggested_commands_stay_short(
    tmp_path: Path, mock_backend: MockControl, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = init_agent(tmp_path, mock_backend.url, "store-a-login")
    monkeypatch.setenv(
        "BLACKLIST_AGENT_CONFIG", str(config)
    )  # the environment carries it to the next command

    listed = cli("blacklist", "list")

    assert "run `blacklist-agent login`" in listed.output


# --- words ------------------------------------------------------------------------------------------------


def rendered(report: CycleReport) -> str:
    console = Console(width=300, record=True, file=io.StringIO())
    console.print(report.render())
    return console.export_text()


def test_counts_of_one_are_singular() -> None:
    report = CycleReport(blacklist_size=1, reports_pushed=1, withdrawals_pushed=2, feed_changes=1)
    report.added.append(BuyerAction("100234", "Tom", score=3, reporters=1))

    text = rendered(report)

    assert "1 blacklist entry" in text
    assert "1 report, 2 withdrawals" in text
    assert "1 change" in text
    assert "Tom (100234) [1 reporter, score 3]" in text
    assert "1 reporters" not in text


def test_status_words_a_single_allowlisted_buyer(tmp_path: Path) -> None:
    config = init_agent(tmp_path, "https://seller.example.com", "me")
    cli("--config", str(config), "allow", "100234")

    status = cli("--config", str(config), "status")

    assert re.search(r"allowlist\s+│?\s*1 buyer\b", status.output), status.output


def test_audit_shows_provenance_in_words_not_raw_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli_console, "width", 300)  # one table row per line, whatever the terminal
    config = init_agent(tmp_path, "https://seller.example.com", "me")
    provenance = {
        "hub_entry": "100234",
        "reporters": 2,
        "score": 5,
        "reasons": {"fraud": 2},
        "last_reported_at": "2026-03-02T10:00:00+00:00",
    }
    with LocalState.open(load_settings(config).state_db_path) as state, state.transaction():
        state.blacklist.add_automatic("100234", "Tom Lee", provenance=provenance, score=5)
        state.audit.record("add", "100234", "Tom Lee", {**provenance, "outcome": "added"})
        state.audit.record("undo", "100234", "Tom Lee", {"was": provenance, "outcome": "removed"})

    audit = cli("--config", str(config), "audit")

    assert audit.exit_code == 0, audit.output
    assert "2 reporters; score 5; reasons fraud ×2; last reported 2026-03-0" in audit.output
    assert "the store answered removed; had been added for 2 reporters, score 5" in audit.output
    assert "{" not in audit.output
    assert "'reasons'" not in audit.output
    assert "undone" in audit.output


# --- the right diagnosis -----------------------------------------------------------------------------------


def test_a_port_typo_is_reported_as_an_unreachable_backend_not_as_missing_secrets(
    tmp_path: Path, mock_backend: MockControl, hub: LiveHub
) -> None:
    login, password = mock_backend.credentials("store-a")
    config = init_agent(tmp_path, mock_backend.url, login, "--hub-url", hub.url)
    settings = load_settings(config)
    store_secret(settings, SecretName.BACKEND_PASSWORD, password)
    store_secret(settings, SecretName.HUB_TOKEN, hub.token)
    typo = f"http://127.0.0.1:{free_port()}"
    config.write_text(config.read_text().replace(mock_backend.url, typo))

    result = cli("--config", str(config), "sync")

    assert result.exit_code == 1
    assert f"cannot reach the backend at {typo}" in result.output
    assert "no backend password stored" not in result.output
    assert "no hub token stored" not in result.output


def test_a_refused_hub_token_from_the_environment_is_named_in_the_hint(
    tmp_path: Path, mock_backend: MockControl, hub: LiveHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    login, password = mock_backend.credentials("store-a")
    config = init_agent(tmp_path, mock_backend.url, login)
    use_hub(config, hub.url)
    store_secret(load_settings(config), SecretName.BACKEND_PASSWORD, password)
    store_secret(load_settings(config), SecretName.HUB_TOKEN, hub.token)  # a good one, overridden:
    monkeypatch.setenv("BLACKLIST_AGENT_HUB_TOKEN", "bh_revoked-token-1234")

    result = cli("--config", str(config), "share-all")

    assert result.exit_code == 1
    assert "HTTP 401" in result.output
    assert "hint: the hub does not accept the token in $BLACKLIST_AGENT_HUB_TOKEN" in result.output
    assert "bh_revoked-token-1234" not in result.output


def test_a_refused_hub_token_from_the_keyring_says_how_to_store_the_right_one(
    tmp_path: Path, mock_backend: MockControl, hub: LiveHub
) -> None:
    login, password = mock_backend.credentials("store-a")
    config = init_agent(tmp_path, mock_backend.url, login)
    use_hub(config, hub.url)
    store_secret(load_settings(config), SecretName.BACKEND_PASSWORD, password)
    store_secret(load_settings(config), SecretName.HUB_TOKEN, "bh_never-issued-5678")

    result = cli("--config", str(config), "sync")

    assert result.exit_code == 1
    hint = (
        f"store the one the hub's operator gave you with `blacklist-agent --config {quoted(config)} secrets"
    )
    assert result.stderr.count(hint) == 1  # once, though both the push and the pull were refused
    assert "$BLACKLIST_AGENT_HUB_TOKEN" not in result.stderr


def test_the_background_agent_logs_the_hint_for_a_refused_hub_token(
    tmp_path: Path, mock_backend: MockControl, hub: LiveHub
) -> None:
    login, password = mock_backend.credentials("store-a")
    config = init_agent(tmp_path, mock_backend.url, login)
    use_hub(config, hub.url)
    store_secret(load_settings(config), SecretName.BACKEND_PASSWORD, password)
    env = {**agent_env(tmp_path), "BLACKLIST_AGENT_HUB_TOKEN": "bh_revoked-token-9012"}

    run = subprocess.run(
        [sys.executable, "-m", "agent", "--config", str(config), "run", "--once"],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip

    assert run.returncode == 1
    assert (
        run.stderr.count("WARNING hint: the hub does not accept the token in $BLACKLIST_AGENT_HUB_TOKEN") == 1
    )
    log = (tmp_path / "data" / "logs" / "agent.log").read_text()
    assert "hint: the hub does not accept the token in $BLACKLIST_AGENT_HUB_TOKEN" in log
    assert "bh_revoked-token-9012" not in run.stderr + log
