"""Logging in never harms the seller's account: a refused password is tried once, in every process, until the
seller logs in again; lockouts are recognised; logins are one at a time; a mistyped one-time code is asked
again. Real Chromium, the real mock backend over HTTP, the real CLI and scheduler, the real file keyring."""

from __future__ import annotations

import itertools
import logging
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from backend_helpers import LAYOUTS, OpenStore

from agent.backend.login_guard import LoginGuard, LoginRefusal, lockout_wait, looks_locked
from agent.cli.agent_cmds import sync_cycle
from agent.config import Settings, load_settings
from agent.errors import LoginFailed, LoginOnHold
from agent.scheduler import Runner, Schedule
from agent.secrets import SecretName, store_secret
from agent.state import LocalState
from fixtures.mock_backend.testing import MockControl, SellerClient
from tests.agent.cli_support import cli, init_agent, isolate

FAST = Schedule(
    interval_seconds=0.2,
    jitter_seconds=0,
    max_cycle_seconds=60,
    misfire_grace_seconds=5,
    stop_grace_seconds=30,
)


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    yield from isolate(tmp_path, monkeypatch)


@pytest.fixture
def changed_password(tmp_path: Path, mock_backend: MockControl) -> tuple[Path, Settings]:
    """An agent whose keyring holds a password the backend no longer accepts (the seller changed it)."""
    login, _ = mock_backend.credentials()
    config = init_agent(tmp_path, mock_backend.url, login)
    settings = load_settings(config)
    store_secret(settings, SecretName.BACKEND_PASSWORD, "the-old-password")
    return config, settings


class Skips(logging.Handler):
    """Counts the scheduler's skipped cycles (a refused login on record: no browser, no request)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("skipping this cycle"):
            self.count += 1


def run_cycles(settings: Settings, cycles: int) -> Runner:
    """The background agent's scheduler with its real sync cycle, stopped after `cycles` scheduled cycles
    (run or skipped)."""
    runner = Runner(sync_cycle(settings), FAST, session_path=settings.session_path)
    skips = Skips()
    scheduler_log = logging.getLogger("agent.scheduler")
    scheduler_log.addHandler(skips)

    def stop_when_done() -> None:
        while runner.cycles_run + skips.count < cycles:
            threading.Event().wait(0.05)
        runner.request_stop("test")

    threading.Thread(target=stop_when_done, daemon=True).start()
    try:
        assert runner.run_forever() == 0
    finally:
        scheduler_log.removeHandler(skips)
    return runner


def test_wrong_password_under_run_is_tried_once_and_never_locks_the_account(
    changed_password: tuple[Path, Settings], mock_backend: MockControl
) -> None:
    _, settings = changed_password
    runner = run_cycles(settings, cycles=4)

    assert runner.cycles_run == 1  # the three later cycles were skipped without opening the store
    assert mock_backend.login_attempts() == 1
    assert not mock_backend.is_locked()
    state_file = settings.session_path.parent / "login_state.json"
    assert stat.S_IMODE(state_file.stat().st_mode) == 0o600
    assert "the-old-password" not in state_file.read_text(encoding="utf-8")
    with LocalState.open(settings.state_db_path) as state:
        last = state.cycles.last("sync")
    assert last is not None
    assert last.outcome == "failed"
    assert last.report is not None
    assert "run `blacklist-agent login`" in " ".join(last.report["errors"])


def test_correct_login_afterwards_clears_the_refusal_and_sync_works(
    changed_password: tuple[Path, Settings], mock_backend: MockControl
) -> None:
    config, settings = changed_password
    run_cycles(settings, cycles=1)
    status = cli("--config", str(config), "status")
    assert "refused the password" in status.output
    assert f"blacklist-agent --config {config} login" in status.output

    _, password = mock_backend.credentials()
    login = cli("--config", str(config), "login", "--password-stdin", input=password + "\n")

    assert login.exit_code == 0, login.output
    assert "refused login is cleared" in login.output
    assert LoginGuard(settings.session_path).refusal() is None
    synced = cli("--config", str(config), "sync")
    assert synced.exit_code == 0, synced.output
    assert "refused" not in cli("--config", str(config), "status").output
    assert mock_backend.login_attempts() == 2  # the refused one, then the seller's


def test_another_process_does_not_try_while_a_refusal_is_on_record(
    changed_password: tuple[Path, Settings], mock_backend: MockControl
) -> None:
    config, settings = changed_password
    run_cycles(settings, cycles=1)
    command = [sys.executable, "-m", "agent", "--config", str(config), "blacklist", "list"]

    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)

    assert done.returncode == 1
    assert "refused the password" in done.stderr
    assert f"blacklist-agent --config {config} login" in done.stderr
    assert mock_backend.login_attempts() == 1


def test_doctor_says_the_login_is_on_hold_without_trying(
    changed_password: tuple[Path, Settings], mock_backend: MockControl
) -> None:
    config, settings = changed_password
    LoginGuard(settings.session_path).record_refusal(
        _refusal("login refused: Incorrect account or password.", settings)
    )
    result = cli("--config", str(config), "doctor")
    assert result.exit_code == 1
    assert "refused the password" in result.output
    assert f"blacklist-agent --config {config} login" in result.output
    assert mock_backend.login_attempts() == 0


@pytest.mark.parametrize("layout", LAYOUTS)
def test_lockout_is_recognised_and_reported_with_when_to_try_again(
    layout: str, open_store: OpenStore, mock_backend: MockControl, tmp_path: Path
) -> None:
    mock_backend.set_faults(layout=layout)
    login, _ = mock_backend.credentials()
    someone = SellerClient(mock_backend.url)
    for _ in range(5):  # someone else (or an old agent) typed a wrong password five times
        someone.login(login, "not-it")
    someone.close()
    assert mock_backend.is_locked()
    store = open_store(data_dir=tmp_path / layout, selectors=f"mock-{layout}")

    with pytest.raises(LoginFailed) as refused:
        store.ensure_session()  # the right password: the backend refuses it while the account is locked

    assert refused.value.locked
    assert refused.value.retry_at is not None
    assert timedelta(minutes=4) <= refused.value.retry_at - datetime.now(UTC) <= timedelta(minutes=5)
    recorded = LoginGuard(tmp_path / layout / "session" / "storage_state.json").refusal()
    assert recorded is not None
    assert recorded.locked
    assert recorded.retry_at == refused.value.retry_at
    assert "try again after" in recorded.describe()
    with pytest.raises(LoginOnHold):
        store.ensure_session()
    assert mock_backend.login_attempts() == 6


def test_lockout_wording_is_read_in_english_and_chinese() -> None:
    assert lockout_wait("Your account is locked. Try again in 15 minutes.") == timedelta(minutes=15)
    assert lockout_wait("账号已锁定，请5分钟后再试") == timedelta(minutes=5)
    assert lockout_wait("Too many attempts; retry in 1 hour") == timedelta(hours=1)
    assert lockout_wait("Incorrect account or password.") is None
    assert looks_locked("登录失败次数过多，账号已锁定")
    assert not looks_locked("Incorrect account or password.")


def test_wrong_one_time_code_is_asked_again(open_store: OpenStore, mock_backend: MockControl) -> None:
    login, _ = mock_backend.credentials()
    mock_backend.set_faults(otp_required=True)
    asked: list[str] = []

    def seller_types() -> str:
        code = mock_backend.otp(login) or ""
        asked.append(code)
        return "000000" if len(asked) == 1 and code != "000000" else code  # a typo first

    store = open_store(otp_prompt=seller_types)
    store.ensure_session()

    assert len(asked) == 2
    assert store.logins == 1
    assert mock_backend.login_attempts() == 1  # the password was not typed again


def test_two_processes_log_in_once_the_second_uses_the_first_ones_session(
    open_store: OpenStore, mock_backend: MockControl, tmp_path: Path
) -> None:
    data_dir = tmp_path / "shared"
    first, second = open_store(data_dir=data_dir), open_store(data_dir=data_dir)
    threads = [threading.Thread(target=store.ensure_session) for store in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert mock_backend.login_attempts() == 1
    assert sorted([first.logins, second.logins]) == [0, 1]
    assert [e.member_id for e in second.read_blacklist()] == mock_backend.blacklist_ids()


def test_login_attempts_are_spaced_by_the_configured_interval(
    open_store: OpenStore, mock_backend: MockControl, tmp_path: Path
) -> None:
    store = open_store(data_dir=tmp_path / "a", login_min_interval_seconds=1.5)
    guard = LoginGuard(tmp_path / "a" / "session" / "storage_state.json")
    store.ensure_session()
    starts: list[float | None] = [guard.last_attempt()]
    for _ in range(2):
        mock_backend.expire_sessions("store-a")
        store.read_blacklist()  # the session ended: log in again, no sooner than the interval allows
        starts.append(guard.last_attempt())

    assert store.logins == 3
    recorded = [start for start in starts if start is not None]
    assert len(recorded) == 3
    gaps = [b - a for a, b in itertools.pairwise(recorded)]
    assert all(gap >= 1.5 for gap in gaps), gaps


def _refusal(message: str, settings: Settings) -> LoginRefusal:
    return LoginRefusal(datetime.now(UTC), settings.backend.username, message)
