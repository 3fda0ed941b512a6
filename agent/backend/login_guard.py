"""Logins that never harm the seller's account: one at a time, spaced, and never a refused password twice.

Every process of one agent (the background `run`, a CLI `sync` or `blacklist list`, the dashboard) logs in
through the same guard, kept next to the saved session:

- `login.lock`: a file lock, so two processes never log in at the same time (the second one then finds the
  session the first one saved, and uses it instead of logging in again);
- `login_state.json` (owner-only): when the last login attempt started (attempts are at least
  `backend.login_min_interval_seconds` apart), and the backend's refusal, if any: when, what it said, and
  when it said to try again. Never the password.

A refusal on record stops every automatic login until a human login (`blacklist-agent login`, or the
dashboard's setup page) succeeds, which clears it: trying a password the backend refused again, every
cycle, is how a changed password ends in a locked account. A refusal during a human login is recorded only
when it is a lockout (the password the agent keeps was not the one refused, but a locked account must
be left alone).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import filelock

from agent.errors import BackendError, LoginFailed, LoginOnHold

logger = logging.getLogger(__name__)

STATE_NAME = "login_state.json"
LOCK_NAME = "login.lock"
LOCK_WAIT_SECONDS = 15 * 60  # another process may be waiting for a human's one-time code
RELOGIN_COMMAND = "`blacklist-agent login`"

_LOCKED_WORDS = re.compile(r"lock|too many|temporarily|锁定|冻结|次数过多", re.IGNORECASE)
_DURATION = re.compile(
    r"(\d+(?:\.\d+)?)\s*(hours?|hrs?|h\b|minutes?|mins?|m\b|seconds?|secs?|s\b|小时|分钟|分|秒)",
    re.IGNORECASE,
)
_UNIT_SECONDS = {"h": 3600, "小": 3600, "m": 60, "分": 60, "s": 1, "秒": 1}


def looks_locked(message: str) -> bool:
    """Whether a login page's message reads as a lockout ("too many attempts", "account locked")."""
    return bool(_LOCKED_WORDS.search(message))


def lockout_wait(message: str) -> timedelta | None:
    """The wait a lockout message names ("try again in 15 minutes", "请5分钟后再试"), or None."""
    match = _DURATION.search(message)
    if match is None:
        return None
    amount, unit = float(match.group(1)), match.group(2).lower()
    return timedelta(seconds=amount * _UNIT_SECONDS[unit[0]])


def _now() -> datetime:
    return datetime.now(UTC)


def _when(moment: datetime) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M %Z").strip()


@dataclass(frozen=True, slots=True)
class LoginRefusal:
    """What the backend answered to a refused login, kept until a human login succeeds."""

    at: datetime
    username: str
    message: str
    locked: bool = False
    retry_at: datetime | None = None

    def describe(self) -> str:
        """One line for `status`, `doctor`, the cycle's result and the error."""
        what = "locked the account" if self.locked else "refused the password"
        text = f"the seller backend {what} for {self.username} at {_when(self.at)} ({self.message})"
        if self.retry_at is not None:
            text += f"; it said to try again after {_when(self.retry_at)}"
        return (
            f"{text}. The agent does not log in on its own again: run {RELOGIN_COMMAND} "
            "(with the current password) to resume"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "username": self.username,
            "message": self.message,
            "locked": self.locked,
            "retry_at": self.retry_at.isoformat() if self.retry_at else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LoginRefusal:
        retry_at = data.get("retry_at")
        return cls(
            at=datetime.fromisoformat(str(data["at"])),
            username=str(data.get("username", "")),
            message=str(data.get("message", "")),
            locked=bool(data.get("locked", False)),
            retry_at=datetime.fromisoformat(str(retry_at)) if retry_at else None,
        )

    @classmethod
    def from_error(cls, exc: LoginFailed, username: str) -> LoginRefusal:
        message = str(exc.args[0]) if exc.args else "login refused"
        return cls(_now(), username, message, exc.locked, exc.retry_at)


class LoginGuard:
    """The login lock and state of one agent (one saved session); safe to use from several processes."""

    def __init__(self, session_path: Path, *, min_interval_seconds: float = 0.0) -> None:
        self.directory = session_path.parent
        self.state_path = self.directory / STATE_NAME
        self.lock_path = self.directory / LOCK_NAME
        self.min_interval = min_interval_seconds

    # -- the state file ------------------------------------------------------------------------------

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.state_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            # Unreadable: assume the worst (a refusal) rather than risk a lockout; a human login rewrites it.
            logger.warning(
                "login state %s is unreadable (%s); treating it as a refused login", self.state_path, exc
            )
            return {"refusal": {"at": _now().isoformat(), "message": f"unreadable {self.state_path}"}}
        return data if isinstance(data, dict) else {}

    def _write(self, data: dict[str, Any]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self.state_path.with_name(self.state_path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1)
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.state_path)

    def refusal(self) -> LoginRefusal | None:
        """The refusal on record, or None when automatic logins may go ahead."""
        raw = self._read().get("refusal")
        if not isinstance(raw, dict):
            return None
        try:
            return LoginRefusal.from_dict(raw)
        except (KeyError, ValueError):
            return LoginRefusal(_now(), "", f"unreadable refusal in {self.state_path}")

    def last_attempt(self) -> float | None:
        """When the last login attempt started (epoch seconds), from any process."""
        value = self._read().get("last_attempt_at")
        return float(value) if isinstance(value, int | float) else None

    def record_refusal(self, refusal: LoginRefusal) -> None:
        data = self._read()
        data["refusal"] = refusal.as_dict()
        self._write(data)
        logger.error("login refused, recorded in %s: %s", self.state_path, refusal.describe())

    def clear(self) -> None:
        data = self._read()
        if data.pop("refusal", None) is not None:
            self._write(data)
            logger.info("a login succeeded: the recorded refusal is cleared, automatic logins resume")

    def check(self) -> None:
        """Raise LoginOnHold when a refusal is on record."""
        refusal = self.refusal()
        if refusal is not None:
            raise LoginOnHold(
                refusal.describe(), locked=refusal.locked, retry_at=refusal.retry_at, page="login"
            )

    # -- one attempt ---------------------------------------------------------------------------------

    @asynccontextmanager
    async def turn(self, *, human: bool) -> AsyncIterator[None]:
        """Hold the login lock (one process logs in at a time); refuse at once when a refusal is on record,
        unless a human is logging in. Inside, call `begin()` right before sending the password."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        lock = filelock.FileLock(self.lock_path, timeout=LOCK_WAIT_SECONDS, thread_local=False)
        try:
            await asyncio.to_thread(lock.acquire)
        except filelock.Timeout:
            raise BackendError(
                f"another process of this agent has been logging in for {LOCK_WAIT_SECONDS // 60} minutes "
                f"(lock {self.lock_path}); try again when it ends",
                page="login",
            ) from None
        try:
            if not human:
                self.check()
            yield
        finally:
            lock.release()

    async def begin(self) -> None:
        """An attempt starts: wait out the minimum interval since the last one (from any process), and
        record this one's start."""
        last = self.last_attempt()
        if last is not None and self.min_interval > 0:
            wait = last + self.min_interval - time.time()
            if wait > 0:
                logger.info("waiting %.1f s before logging in (backend.login_min_interval_seconds)", wait)
            while wait > 0:  # loop: a sleep may end a hair early, and the interval is a promise
                await asyncio.sleep(wait)
                wait = last + self.min_interval - time.time()
        data = self._read()
        data["last_attempt_at"] = time.time()
        self._write(data)
