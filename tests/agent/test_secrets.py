"""Secrets in the real keyring library (keyrings.alt file backends, a real Secret Service when the machine has
gnome-keyring), env fallbacks, keyrings that cannot keep a secret, and the log files that must keep none."""

from __future__ import annotations

import json
import logging
import os
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import keyring
import keyring.backends.fail
import keyring.backends.null
import keyrings.alt.file
import pytest

from agent.config import Settings
from agent.errors import BackendUnavailable, ConfigError, KeyringUnavailable, SecretMissing
from agent.log import PrivateRotatingFileHandler, configure_logging
from agent.secrets import (
    SecretName,
    backend_password,
    check_keyring,
    delete_secret,
    hub_token,
    store_secret,
)
from fixtures.mock_backend.testing import MockControl


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


def test_missing_password_says_how_to_store_it(
    tmp_path: Path, file_keyring: Path, mock_backend: MockControl
) -> None:
    settings = agent_settings(tmp_path, base_url=mock_backend.url)  # a backend that answers
    with pytest.raises(SecretMissing, match=r"run `blacklist-agent login`.*BLACKLIST_AGENT_BACKEND_PASSWORD"):
        backend_password(settings)
    with pytest.raises(SecretMissing, match=r"secrets set hub-token --stdin"):
        hub_token(settings)


def test_deleting_a_secret_removes_it_and_is_idempotent(
    tmp_path: Path, file_keyring: Path, mock_backend: MockControl
) -> None:
    settings = agent_settings(tmp_path, base_url=mock_backend.url)
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


# --- keyrings that cannot keep a secret ------------------------------------------------------------------


def test_null_keyring_is_refused_instead_of_claiming_the_secret_was_stored(tmp_path: Path) -> None:
    previous = keyring.get_keyring()
    keyring.set_keyring(keyring.backends.null.Keyring())
    try:
        with pytest.raises(KeyringUnavailable, match=r"null keyring keeps nothing.*gnome-keyring"):
            store_secret(agent_settings(tmp_path), SecretName.BACKEND_PASSWORD, "pw-never-kept")
        with pytest.raises(KeyringUnavailable):
            check_keyring()
    finally:
        keyring.set_keyring(previous)


def test_a_keyring_that_accepts_a_secret_but_keeps_nothing_is_refused(tmp_path: Path) -> None:
    # The real file keyring, writing into /dev/null: every write "succeeds", nothing can be read back.
    forgetful = keyrings.alt.file.PlaintextKeyring()
    forgetful.file_path = os.devnull
    previous = keyring.get_keyring()
    keyring.set_keyring(forgetful)
    try:
        with pytest.raises(KeyringUnavailable, match="accepted the secret but did not keep it"):
            store_secret(agent_settings(tmp_path), SecretName.HUB_TOKEN, "token-never-kept")
    finally:
        keyring.set_keyring(previous)


def test_a_keyring_backend_that_cannot_load_gets_the_fixes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "no_such_module.Keyring")
    previous = keyring.get_keyring()
    keyring.core._keyring_backend = None  # as in a fresh process: the environment is read at first use
    try:
        with pytest.raises(KeyringUnavailable, match=r"PYTHON_KEYRING_BACKEND.*no_such_module"):
            backend_password(agent_settings(tmp_path))
    finally:
        keyring.set_keyring(previous)


# --- the encrypted file keyring, and a real Secret Service ---------------------------------------------


def run_agent(
    *args: str, config: Path, tmp_path: Path, stdin: str | None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The real command with no terminal at all (a new session): getpass can only read stdin."""
    base = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path / "home"),
        "XDG_DATA_HOME": str(tmp_path / "xdg-data"),
        "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.EncryptedKeyring",
    }
    return subprocess.run(
        [sys.executable, "-m", "agent", "--config", str(config), *args],
        input=stdin, stdin=None if stdin is not None else subprocess.DEVNULL, capture_output=True,
        text=True, env={**base, **(env or {})}, timeout=120, check=False, start_new_session=True,
    )  # fmt: skip


def write_config(tmp_path: Path, base_url: str = "http://127.0.0.1:9") -> Path:
    config = tmp_path / "agent.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "data"}"\n[backend]\nbase_url = "{base_url}"\nusername = "store1"\n'
    )
    return config


def test_encrypted_file_keyring_keeps_the_secret_for_commands_typed_at_a_terminal(tmp_path: Path) -> None:
    config = write_config(tmp_path)

    # the secret, then the new keyring's password twice (getpass reads stdin when there is no terminal)
    stored = run_agent(
        "secrets", "set", "backend-password", "--stdin",
        config=config, tmp_path=tmp_path, stdin="pw-encrypted-1\nkeyring-pass\nkeyring-pass\n",
    )  # fmt: skip

    assert stored.returncode == 0, stored.stderr
    assert "Stored the backend password" in stored.stdout
    keyring_file = tmp_path / "xdg-data" / "python_keyring" / "crypted_pass.cfg"
    assert "pw-encrypted-1" not in keyring_file.read_text()
    read_back = subprocess.run(
        [sys.executable, "-c", "from pathlib import Path; from agent.config import load_settings; from agent."
         f"secrets import backend_password; print(backend_password(load_settings(Path({str(config)!r}))))"],
        input="keyring-pass\n", capture_output=True, text=True, timeout=60, check=False,
        start_new_session=True, env={**os.environ, "XDG_DATA_HOME": str(tmp_path / "xdg-data"),
                                     "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.EncryptedKeyring"},
    )  # fmt: skip
    assert read_back.stdout.strip() == "pw-encrypted-1", read_back.stderr


def test_background_agent_with_the_encrypted_keyring_says_it_cannot_type_the_password(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    stored = run_agent(
        "secrets", "set", "backend-password", "--stdin",
        config=config, tmp_path=tmp_path, stdin="pw-encrypted-2\nkeyring-pass\nkeyring-pass\n",
    )  # fmt: skip
    assert stored.returncode == 0, stored.stderr

    background = run_agent("run", "--once", config=config, tmp_path=tmp_path, stdin=None)  # no terminal

    assert background.returncode == 1
    assert "there is no terminal to type it" in background.stderr
    assert "the background agent (`blacklist-agent" in background.stderr
    assert "can never type" in background.stderr
    assert "Traceback" not in background.stderr


def run_in_own_process_group(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run `argv` in a new session; on a timeout, end its whole process group (the keyring daemon too)."""
    with subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    ) as process:
        try:
            out, err = process.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            out, err = process.communicate()
        return subprocess.CompletedProcess(argv, process.returncode, out, err)


def secret_service_available() -> bool:
    return all(shutil.which(tool) for tool in ("dbus-run-session", "gnome-keyring-daemon"))


@pytest.mark.skipif(not secret_service_available(), reason="needs dbus-run-session and gnome-keyring")
def test_a_real_secret_service_keeps_both_secrets_for_the_agent(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    config.write_text(config.read_text() + '[hub]\nurl = "https://hub.example.org"\n')
    agent = f"{shlex.quote(sys.executable)} -m agent --config {shlex.quote(str(config))}"
    read_back = (
        "from pathlib import Path; from agent.config import load_settings; "
        "from agent.secrets import backend_password, hub_token; "
        f"s = load_settings(Path({str(config)!r})); print(backend_password(s), hub_token(s))"
    )
    script = (
        "echo session-pass | gnome-keyring-daemon --unlock --components=secrets >/dev/null && "
        f"echo pw-secret-service | {agent} secrets set backend-password --stdin && "
        f"echo token-secret-service | {agent} secrets set hub-token --stdin && "
        f"{agent} doctor --json > {shlex.quote(str(tmp_path / 'doctor.json'))}; "
        f"{shlex.quote(sys.executable)} -c {shlex.quote(read_back)}"
    )
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path / "home"),
        "XDG_DATA_HOME": str(tmp_path / "xdg-data"),
        "PYTHON_KEYRING_BACKEND": "keyring.backends.SecretService.Keyring",
    }

    (tmp_path / "home").mkdir()  # the daemon keeps its login keyring under HOME

    done = run_in_own_process_group(["dbus-run-session", "--", "sh", "-c", script], env=env)

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "pw-secret-service token-secret-service"
    assert "Stored the backend password in the keyring" in done.stdout
    checks = {c["name"]: c for c in json.loads((tmp_path / "doctor.json").read_text())}
    assert checks["keyring"]["status"] == "ok"
    assert "SecretService" in checks["keyring"]["detail"]
    assert not list((tmp_path / "xdg-data").glob("python_keyring/*"))  # nothing fell back to a file


# --- a missing secret, or a backend address that changed --------------------------------------------------


def test_a_wrong_backend_address_is_reported_as_unreachable_not_as_a_missing_password(
    tmp_path: Path, file_keyring: Path
) -> None:
    with socket.socket() as probe:  # a port nothing listens on: the typo'd address
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    good = agent_settings(tmp_path)
    store_secret(good, SecretName.BACKEND_PASSWORD, "pw-stored-1")
    typo = agent_settings(tmp_path, base_url=f"http://127.0.0.1:{port}")

    with pytest.raises(BackendUnavailable, match=rf"cannot reach the backend at http://127.0.0.1:{port}"):
        backend_password(typo)
    with pytest.raises(BackendUnavailable, match="check `base_url` under \\[backend\\]"):
        hub_token(typo)


# --- log files ---------------------------------------------------------------------------------------------


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_log_files_are_owner_only_even_after_rotation_and_when_left_open_by_an_older_agent(
    tmp_path: Path,
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir(mode=0o755)
    (logs / "agent.log").write_text("an older agent's line\n")
    (logs / "agent.log").chmod(0o644)

    log_file = configure_logging(log_dir=logs, console=False)
    try:
        logging.getLogger("agent.test").warning("buyer 100234 blacklisted")
        handler = next(h for h in logging.getLogger().handlers if isinstance(h, PrivateRotatingFileHandler))
        handler.doRollover()
        logging.getLogger("agent.test").warning("after the rollover")
    finally:
        configure_logging(console=False)

    assert log_file is not None
    assert stat.S_IMODE(logs.stat().st_mode) == 0o700
    for path in (log_file, logs / "agent.log.1"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert "after the rollover" in log_file.read_text()
