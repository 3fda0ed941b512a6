"""The agent's set-up commands end to end: real CLI, real mock backend, real Chromium, real keyring."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import keyring
import keyring.backends.fail
import pytest

from agent.config import load_settings
from agent.secrets import SecretName, backend_password, hub_token, store_secret
from fixtures.mock_backend.testing import MockControl
from tests.agent.cli_support import cli, init_agent, isolate, wait_for
from tests.agent.cli_support import live_hub as start_live_hub


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    yield from isolate(tmp_path, monkeypatch)


@pytest.fixture
def store_a(tmp_path: Path, mock_backend: MockControl) -> tuple[Path, str]:
    """An agent configured for the mock's store-a, with its password in the keyring; (config, password)."""
    login, password = mock_backend.credentials("store-a")
    config = init_agent(tmp_path, mock_backend.url, login)
    store_secret(load_settings(config), SecretName.BACKEND_PASSWORD, password)
    return config, password


# --- init and configuration errors -------------------------------------------------------------------------


def test_init_writes_a_commented_config_that_loads(tmp_path: Path) -> None:
    config = init_agent(tmp_path, "https://seller.example.com/", "my-store", "--hub-url", "https://hub.test")
    text = config.read_text(encoding="utf-8")
    assert "# Which selectors file describes the backend's pages" in text
    settings = load_settings(config)
    assert settings.backend.base_url == "https://seller.example.com"
    assert settings.backend.username == "my-store"
    assert settings.hub.url == "https://hub.test"
    assert settings.data_dir == tmp_path / "data"


def test_init_asks_for_what_was_not_given(tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    result = cli("--config", str(config), "init", input="https://seller.example.com\nasked-store\n")
    assert result.exit_code == 0, result.output
    assert "Seller backend URL" in result.output
    assert "give each its own with --data-dir" in result.output  # a second agent must not share state
    assert load_settings(config).backend.username == "asked-store"


def test_init_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    config = init_agent(tmp_path, "https://seller.example.com", "first")
    again = cli("--config", str(config), "init", "--base-url", "https://x.test", "--username", "second")
    assert again.exit_code == 1
    assert "already exists; use --force" in again.output
    assert load_settings(config).backend.username == "first"
    init_agent(tmp_path, "https://seller.example.com", "second", "--force")
    assert load_settings(config).backend.username == "second"


def test_init_uses_the_default_config_path(tmp_path: Path) -> None:
    result = cli("init", "--base-url", "https://seller.example.com", "--username", "me")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "xdg-config" / "blacklist-agent" / "config.toml").is_file()


def test_init_with_a_bad_url_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    result = cli("--config", str(config), "init", "--base-url", "seller.example.com", "--username", "me")
    assert result.exit_code == 2
    assert "backend.base_url: must be an http:// or https:// URL" in result.output
    assert not config.exists()
    assert not list(tmp_path.glob("*.new"))


def test_bad_config_value_exits_2_naming_the_key(tmp_path: Path) -> None:
    config = init_agent(tmp_path, "https://seller.example.com", "me")
    config.write_text(config.read_text().replace("# concurrency = 4", "concurrency = 0"))
    result = cli("--config", str(config), "blacklist", "list")
    assert result.exit_code == 2
    assert "browser.concurrency: Input should be greater than or equal to 1" in result.output
    assert str(config) in result.output
    assert "Traceback" not in result.output


def test_missing_config_exits_2_and_points_to_init(tmp_path: Path) -> None:
    result = cli("--config", str(tmp_path / "none.toml"), "blacklist", "list")
    assert result.exit_code == 2
    assert f"create it with `blacklist-agent --config {tmp_path / 'none.toml'} init`" in result.output


# --- secrets ----------------------------------------------------------------------------------------------


def test_hub_token_is_stored_from_stdin_and_deleted(tmp_path: Path) -> None:
    config = init_agent(tmp_path, "https://seller.example.com", "me", "--hub-url", "https://hub.test")
    stored = cli("--config", str(config), "secrets", "set", "hub-token", "--stdin", input="tok-123456\n")
    assert stored.exit_code == 0, stored.output
    assert "tok-123456" not in stored.output
    assert hub_token(load_settings(config)) == "tok-123456"
    assert "tok-123456" not in config.read_text()
    deleted = cli("--config", str(config), "secrets", "delete", "hub-token")
    assert deleted.exit_code == 0
    assert "Deleted the hub token" in deleted.output


def test_hub_token_without_hub_url_is_a_usage_error(tmp_path: Path) -> None:
    config = init_agent(tmp_path, "https://seller.example.com", "me")
    result = cli("--config", str(config), "secrets", "set", "hub-token", "--stdin", input="tok-123456\n")
    assert result.exit_code == 2
    assert "hub.url is not set" in result.output


@pytest.mark.parametrize("backend", ["keyring.backends.fail.Keyring", "keyring.backends.null.Keyring"])
def test_machine_without_keyring_is_told_how_to_fix_it(tmp_path: Path, backend: str) -> None:
    # A separate process, so the keyring library picks its backend from the environment as on a real machine.
    config = init_agent(tmp_path, "https://seller.example.com", "me")
    env = {**os.environ, "PYTHON_KEYRING_BACKEND": backend}
    command = [sys.executable, "-m", "agent", "--config", str(config)]
    done = subprocess.run(
        [*command, "secrets", "set", "backend-password", "--stdin"],
        input="pw-98765\n", capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert "No usable OS keyring" in done.stderr
    assert "BLACKLIST_AGENT_BACKEND_PASSWORD" in done.stderr
    assert "Stored" not in done.stdout  # the null keyring used to be reported as having kept it
    assert "pw-98765" not in done.stderr + done.stdout
    login = subprocess.run(
        [*command, "login", "--password-stdin"],
        input="pw-98765\n", capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip
    assert login.returncode == 1  # refused before logging in: the password could not be kept
    assert "No usable OS keyring" in login.stderr
    assert "stored" not in login.stdout.lower()


def test_missing_keyring_gives_a_clear_fix_and_exit_1(tmp_path: Path) -> None:
    config = init_agent(tmp_path, "https://seller.example.com", "me")
    keyring.set_keyring(keyring.backends.fail.Keyring())
    result = cli("--config", str(config), "secrets", "set", "backend-password", "--stdin", input="pw-98765\n")
    assert result.exit_code == 1
    assert "No usable OS keyring" in result.output
    for fix in ("gnome-keyring", "PYTHON_KEYRING_BACKEND", "BLACKLIST_AGENT_BACKEND_PASSWORD"):
        assert fix in result.output
    assert "pw-98765" not in result.output


# --- login, blacklist and doctor against the mock backend with real Chromium ----------------------------


def test_login_checks_the_password_then_stores_it(tmp_path: Path, mock_backend: MockControl) -> None:
    login, password = mock_backend.credentials("store-a")
    config = init_agent(tmp_path, mock_backend.url, login)
    result = cli("--config", str(config), "login", "--password-stdin", input=password + "\n")
    assert result.exit_code == 0, result.output
    assert "Logged in" in result.output
    assert password not in result.output
    assert backend_password(load_settings(config)) == password
    log_text = (tmp_path / "data" / "logs" / "cli.log").read_text(encoding="utf-8")
    assert password not in log_text


def test_wrong_password_is_refused_even_with_a_saved_session(
    tmp_path: Path, mock_backend: MockControl
) -> None:
    login, password = mock_backend.credentials("store-a")
    config = init_agent(tmp_path, mock_backend.url, login)
    assert cli("--config", str(config), "login", "--password-stdin", input=password + "\n").exit_code == 0
    result = cli("--config", str(config), "login", "--password-stdin", input="wrong-password\n")
    assert result.exit_code == 1
    assert "login refused" in result.output
    assert "wrong-password" not in result.output
    assert "Traceback" not in result.output
    assert backend_password(load_settings(config)) == password  # the good one is kept


def test_interactive_login_without_display_asks_for_the_one_time_code(
    tmp_path: Path, mock_backend: MockControl
) -> None:
    login, password = mock_backend.credentials("store-a")
    config = init_agent(tmp_path, mock_backend.url, login)
    mock_backend.set_faults(otp_required=True)
    command = [sys.executable, "-m", "agent", "--config", str(config), "login"]
    command += ["--password-stdin", "--interactive"]
    with subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as agent:
        assert agent.stdin is not None
        agent.stdin.write(password + "\n")
        agent.stdin.flush()
        # The seller types the code "sent by SMS" once the backend has asked for it.
        code = wait_for(lambda: mock_backend.otp(login))
        out, err = agent.communicate(code + "\n", timeout=60)
    assert agent.returncode == 0, err
    assert "One-time code" in out
    assert backend_password(load_settings(config)) == password

    again = cli("--config", str(config), "login", "--password-stdin", input=password + "\n")
    assert again.exit_code == 1
    assert "login --interactive" in again.output


def test_blacklist_list_shows_the_stores_blacklist(
    store_a: tuple[Path, str], mock_backend: MockControl
) -> None:
    config, _ = store_a
    result = cli("--config", str(config), "blacklist", "list", "--json")
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    assert [row["member_id"] for row in listed] == mock_backend.blacklist_ids("store-a")
    assert all(row["name"] for row in listed)


def test_blacklist_add_then_list_then_remove(store_a: tuple[Path, str], mock_backend: MockControl) -> None:
    config, _ = store_a
    buyer = mock_backend.add_buyer("Zoë O'Brien & Co")
    added = cli("--config", str(config), "blacklist", "add", buyer["member_id"], buyer["name"])
    assert added.exit_code == 0, added.output
    assert f"Blacklisted {buyer['member_id']}" in added.output
    listed = cli("--config", str(config), "blacklist", "list")
    assert listed.exit_code == 0, listed.output
    assert buyer["member_id"] in listed.output
    removed = cli("--config", str(config), "blacklist", "remove", buyer["member_id"])
    assert removed.exit_code == 0, removed.output
    assert buyer["member_id"] not in mock_backend.blacklist_ids("store-a")


def test_blacklist_add_with_a_wrong_name_fails_with_exit_1(
    store_a: tuple[Path, str], mock_backend: MockControl
) -> None:
    config, _ = store_a
    buyer = mock_backend.add_buyer("Ana Souza")
    result = cli("--config", str(config), "blacklist", "add", buyer["member_id"], "Someone Else")
    assert result.exit_code == 1
    assert "name_mismatch" in result.output
    assert buyer["member_id"] not in mock_backend.blacklist_ids("store-a")


def test_blacklist_without_a_stored_password_says_to_login(tmp_path: Path, mock_backend: MockControl) -> None:
    config = init_agent(tmp_path, mock_backend.url, "store-a-login")
    result = cli("--config", str(config), "blacklist", "list")
    assert result.exit_code == 1
    assert f"run `blacklist-agent --config {config} login`" in result.output
    assert "Traceback" not in result.output
    verbose = cli("--config", str(config), "-v", "blacklist", "list")
    assert verbose.exit_code == 1
    assert "Traceback" in verbose.output


@pytest.fixture
def live_hub(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """The real hub over SQLite, served by uvicorn on loopback; (url, a seller's token)."""
    with start_live_hub(tmp_path) as hub:
        yield hub.url, hub.token


def test_doctor_passes_every_check_on_a_working_setup(
    store_a: tuple[Path, str], live_hub: tuple[str, str]
) -> None:
    config, _ = store_a
    hub_url, token = live_hub
    config.write_text(config.read_text().replace('# url = "https://hub.example.org"', f'url = "{hub_url}"'))
    stored = cli("--config", str(config), "secrets", "set", "hub-token", "--stdin", input=token + "\n")
    assert stored.exit_code == 0, stored.output
    result = cli("--config", str(config), "doctor", "--json")
    assert result.exit_code == 0, result.output
    checks = {c["name"]: c["status"] for c in json.loads(result.stdout)}
    assert checks == {
        "config": "ok", "selectors": "ok", "browser": "ok", "backend": "ok",
        "keyring": "ok", "login": "ok", "hub": "ok", "hub-token": "ok",
    }  # fmt: skip
    assert token not in result.output


def test_doctor_names_the_failing_checks_with_hints(
    tmp_path: Path, mock_backend: MockControl, live_hub: tuple[str, str]
) -> None:
    login, _ = mock_backend.credentials("store-a")
    hub_url, _ = live_hub
    # no backend password stored, and a token the hub never issued
    config = init_agent(tmp_path, mock_backend.url, login, "--hub-url", hub_url)
    cli("--config", str(config), "secrets", "set", "hub-token", "--stdin", input="not-a-real-token\n")
    result = cli("--config", str(config), "doctor")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert any(line.startswith("ok   backend") for line in lines)
    assert any(line.startswith("FAIL login") for line in lines)
    assert any(line.startswith("ok   hub ") for line in lines)
    assert any(line.startswith("FAIL hub-token") for line in lines)
    assert f"hint: run `blacklist-agent --config {config} login`" in result.stdout
    assert "hint: the hub does not accept the token stored for this store" in result.stdout
    assert "not-a-real-token" not in result.output
