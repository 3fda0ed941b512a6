"""Secrets in the real keyring library (keyrings.alt file backend), env fallbacks, and log redaction."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import keyring
import keyring.backends.fail
import keyrings.alt.file
import pytest

from agent.config import Settings
from agent.errors import ConfigError, KeyringUnavailable, SecretMissing
from agent.log import configure_logging
from agent.secrets import (
    SecretName,
    backend_password,
    check_keyring,
    delete_secret,
    hub_token,
    store_secret,
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("BLACKLIST_AGENT_"):
            monkeypatch.delenv(name)


@pytest.fixture
def file_keyring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The real PlaintextKeyring, writing under a temp XDG_DATA_HOME; yields the keyring file."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyrings.alt.file.PlaintextKeyring")
    previous = keyring.get_keyring()
    keyring.core.init_backend()
    yield tmp_path / "xdg-data" / "python_keyring" / "keyring_pass.cfg"
    keyring.set_keyring(previous)


@pytest.fixture
def no_keyring() -> Iterator[None]:
    previous = keyring.get_keyring()
    keyring.set_keyring(keyring.backends.fail.Keyring())
    yield
    keyring.set_keyring(previous)


def agent_settings(
    tmp_path: Path, username: str = "store1", base_url: str = "http://127.0.0.1:8000"
) -> Settings:
    return Settings(
        data_dir=tmp_path / username,
        backend={"base_url": base_url, "username": username},
        hub={"url": "https://hub.example.org"},
    )


def test_backend_password_round_trips_through_the_keyring(tmp_path: Path, file_keyring: Path) -> None:
    settings = agent_settings(tmp_path)
    store_secret(settings, SecretName.BACKEND_PASSWORD, "s3cret-store1")
    assert backend_password(settings) == "s3cret-store1"
    # Really in the keyring's own file (a fresh backend object reads it back), and in no file of ours.
    fresh = keyrings.alt.file.PlaintextKeyring()
    assert fresh.get_password("blacklist-agent/backend/http://127.0.0.1:8000", "store1") == "s3cret-store1"
    assert file_keyring.is_file()
    assert not list(tmp_path.glob("store1/**/*"))


def test_agents_for_different_stores_and_backends_never_clash(tmp_path: Path, file_keyring: Path) -> None:
    one = agent_settings(tmp_path, "store1")
    two = agent_settings(tmp_path, "store2")
    other_site = agent_settings(tmp_path, "store1", base_url="https://other.example.com")
    for settings, password in ((one, "pw-one"), (two, "pw-two"), (other_site, "pw-other")):
        store_secret(settings, SecretName.BACKEND_PASSWORD, password)
        store_secret(settings, SecretName.HUB_TOKEN, "token-" + password)
    assert [backend_password(s) for s in (one, two, other_site)] == ["pw-one", "pw-two", "pw-other"]
    assert [hub_token(s) for s in (one, two, other_site)] == [
        "token-pw-one",
        "token-pw-two",
        "token-pw-other",
    ]


def test_missing_password_says_how_to_store_it(tmp_path: Path, file_keyring: Path) -> None:
    with pytest.raises(SecretMissing, match=r"run `blacklist-agent login`.*BLACKLIST_AGENT_BACKEND_PASSWORD"):
        backend_password(agent_settings(tmp_path))
    with pytest.raises(SecretMissing, match=r"secrets set hub-token --stdin"):
        hub_token(agent_settings(tmp_path))


def test_deleting_a_secret_removes_it_and_is_idempotent(tmp_path: Path, file_keyring: Path) -> None:
    settings = agent_settings(tmp_path)
    store_secret(settings, SecretName.HUB_TOKEN, "token-1234")
    assert delete_secret(settings, SecretName.HUB_TOKEN) is True
    assert delete_secret(settings, SecretName.HUB_TOKEN) is False
    with pytest.raises(SecretMissing):
        hub_token(settings)


def test_hub_token_needs_a_hub_url(tmp_path: Path, file_keyring: Path) -> None:
    settings = Settings(data_dir=tmp_path, backend={"base_url": "http://x.test", "username": "u"})
    with pytest.raises(ConfigError, match=r"hub\.url is not set"):
        hub_token(settings)


def test_env_fallback_wins_over_the_keyring(
    tmp_path: Path, file_keyring: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = agent_settings(tmp_path)
    store_secret(settings, SecretName.BACKEND_PASSWORD, "from-keyring")
    monkeypatch.setenv("BLACKLIST_AGENT_BACKEND_PASSWORD", "from-env")
    monkeypatch.setenv("BLACKLIST_AGENT_HUB_TOKEN", "token-from-env")
    assert backend_password(settings) == "from-env"
    assert hub_token(settings) == "token-from-env"


def test_missing_keyring_explains_every_fix(tmp_path: Path, no_keyring: None) -> None:
    with pytest.raises(KeyringUnavailable) as caught:
        store_secret(agent_settings(tmp_path), SecretName.BACKEND_PASSWORD, "never-stored")
    message = str(caught.value)
    for hint in ("gnome-keyring", "KWallet", "PYTHON_KEYRING_BACKEND", "BLACKLIST_AGENT_BACKEND_PASSWORD"):
        assert hint in message
    assert "never-stored" not in message
    with pytest.raises(KeyringUnavailable):
        check_keyring()


def test_env_fallback_works_without_any_keyring(
    tmp_path: Path, no_keyring: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BLACKLIST_AGENT_BACKEND_PASSWORD", "server-pw")
    assert backend_password(agent_settings(tmp_path)) == "server-pw"


def test_secrets_never_reach_the_log_file(tmp_path: Path, file_keyring: Path) -> None:
    settings = agent_settings(tmp_path)
    store_secret(settings, SecretName.BACKEND_PASSWORD, "hunter2-long")
    log_file = configure_logging(log_dir=tmp_path / "logs", file_level=logging.DEBUG, console=False)
    try:
        log = logging.getLogger("agent.test")
        password = backend_password(settings)
        log.info("logging in with %s", password)
        log.info("request headers: Authorization: Bearer abc.def.ghi, Cookie: sid=xyz123")
        log.info("posting form password=%s&user=store1", "other-pw-never-registered")
        try:
            raise RuntimeError(f"login failed for {password}")
        except RuntimeError:
            log.exception("boom")
    finally:
        configure_logging(console=False)
    assert log_file is not None
    text = log_file.read_text(encoding="utf-8")
    for secret in ("hunter2-long", "abc.def.ghi", "xyz123", "other-pw-never-registered"):
        assert secret not in text
    assert "logging in with ***" in text
    assert "user=store1" in text
