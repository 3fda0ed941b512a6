"""Every error the agent raises on purpose.

    AgentError
    ├── ConfigError            bad or missing configuration (names the key); CLI exit code 2
    ├── SecretMissing          a password or token is not in the keyring (nor in the env fallback)
    ├── KeyringUnavailable     no usable keyring backend on this machine (says how to fix it)
    ├── StateTooNew            the local state was written by a newer agent (upgrade the agent)
    ├── AlreadyRunning         another background agent holds this data dir's instance lock
    ├── CycleBusy              another sync, share-all or undo is changing this store right now
    ├── NotAutomatic           `undo` was asked about an entry the agent did not add
    ├── ServiceConflict        `service install` would replace the service of another store's agent
    ├── NotOnReviewList        a review decision about a buyer who is not (or no longer) held for review
    ├── BackendError           the seller backend did not do what we asked
    │   ├── SelectorNotFound   a page does not match the selectors file (layout changed)
    │   ├── SessionExpired     the backend sent us back to the login page
    │   ├── LoginFailed        wrong credentials, or the account is locked (carries when to try again)
    │   │   └── LoginOnHold    a refusal is on record: no automatic login until `blacklist-agent login`
    │   ├── LoginNeedsHuman    a one-time code or other human step is required
    │   ├── BackendUnavailable 5xx / timeouts / 429 after all retries
    │   ├── BudgetExhausted    this cycle's request budget is used up; the rest waits for the next cycle
    │   └── BlacklistRejected  the backend refused a blacklist change (mismatch, unknown buyer, full)
    └── HubError               the sharing hub did not do what we asked
        ├── HubUnavailable     unreachable, timeouts, 5xx after retries (pushes stay queued)
        │   └── HubRateLimited 429 (rate limit or daily quota) after retries; carries Retry-After
        ├── HubBadAnswer       the hub answered something unreadable or past a bound (treated as down)
        └── HubRejected        the hub answered with a 4xx; carries its status and message
            └── FeedCursorExpired  410: the feed cursor is too old, re-pull from 0

Errors carry context (page, selector, URL, saved artifacts) as attributes and never log in their
constructors. No message ever contains a password, token or cookie.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path


class AgentError(Exception):
    """Base class of all agent errors."""


class ConfigError(AgentError):
    """The configuration is invalid or incomplete."""

    def __init__(self, message: str, *, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


class SecretMissing(AgentError):
    """A secret (backend password, hub token) is not stored."""

    def __init__(self, message: str, *, secret: str) -> None:
        super().__init__(message)
        self.secret = secret


class KeyringUnavailable(AgentError):
    """No keyring backend is usable on this machine."""


class StateTooNew(AgentError):
    """The state file was written by a newer agent; refuse rather than corrupt it."""


class AlreadyRunning(AgentError):
    """Another agent holds the instance lock of this data dir."""

    def __init__(self, data_dir: Path, pid: int | None) -> None:
        who = f"process {pid}" if pid else "another process"
        super().__init__(
            f"another blacklist-agent is already running for data dir {data_dir} ({who}); "
            "stop it first, or give this agent its own data_dir"
        )
        self.data_dir = data_dir
        self.pid = pid


class CycleBusy(AgentError):
    """Another sync, share-all or undo holds this data dir's cycle lock (one change at a time per store)."""


class NotAutomatic(AgentError):
    """`undo` was asked to remove an entry the agent did not add (the seller's own are never touched)."""


class ServiceConflict(AgentError):
    """A service file of that name exists and runs another config: replacing it would move another store's
    background agent onto this config."""

    def __init__(self, message: str, *, path: Path, config_path: Path | None) -> None:
        super().__init__(message)
        self.path = path
        self.config_path = config_path


class NotOnReviewList(AgentError):
    """A review decision about a buyer no longer held for review (settled by a sync meanwhile), or that the
    store would not carry out."""


class BackendError(AgentError):
    """The seller backend failed; `page` and `url` say where."""

    def __init__(
        self,
        message: str,
        *,
        page: str | None = None,
        url: str | None = None,
        artifacts: list[Path] | None = None,
    ) -> None:
        super().__init__(message)
        self.page = page
        self.url = url
        self.artifacts: list[Path] = list(artifacts or [])

    def __str__(self) -> str:
        text = super().__str__()
        where = ", ".join(f"{k}={v}" for k, v in (("page", self.page), ("url", self.url)) if v)
        if where:
            text = f"{text} ({where})"
        if self.artifacts:
            text += "; saved: " + ", ".join(str(p) for p in self.artifacts)
        return text


class SelectorNotFound(BackendError):
    """A named selector matched nothing (or the wrong count) on a page."""

    def __init__(
        self,
        message: str,
        *,
        selector_name: str,
        selector: str,
        page: str | None = None,
        url: str | None = None,
        artifacts: list[Path] | None = None,
    ) -> None:
        super().__init__(message, page=page, url=url, artifacts=artifacts)
        self.selector_name = selector_name
        self.selector = selector


class SessionExpired(BackendError):
    """The backend session is no longer valid."""


class LoginFailed(BackendError):
    """The backend refused the credentials, or locked the account; `retry_at` is when the backend said
    to try again (a lockout that names a duration), else None."""

    def __init__(
        self, message: str, *, locked: bool = False, retry_at: datetime | None = None, **context: object
    ) -> None:
        super().__init__(message, **context)  # type: ignore[arg-type]
        self.locked = locked
        self.retry_at = retry_at


class LoginOnHold(LoginFailed):
    """A login was refused before (recorded next to the saved session): the agent does not try the same
    password again on its own, in any process, until `blacklist-agent login` succeeds."""


class LoginNeedsHuman(BackendError):
    """The backend asks for a human step (one-time code); run `blacklist-agent login --interactive`."""


class BackendUnavailable(BackendError):
    """The backend kept failing (5xx, timeouts, rate limits) after all retries."""


class BudgetExhausted(BackendError):
    """This cycle sent the seller backend as many requests as `backend.request_budget` allows; the work
    left waits for the next cycle."""

    def __init__(self, message: str, *, budget: int, **context: object) -> None:
        super().__init__(message, **context)  # type: ignore[arg-type]
        self.budget = budget


class BlacklistRejected(BackendError):
    """The backend refused to add or remove a blacklist entry; `reason` is a BlacklistOutcome value."""

    def __init__(self, message: str, *, reason: str, member_id: str, **context: object) -> None:
        super().__init__(message, **context)  # type: ignore[arg-type]
        self.reason = reason
        self.member_id = member_id


class HubError(AgentError):
    """The sharing hub failed."""


class HubUnavailable(HubError):
    """The hub could not be reached or kept failing; queued pushes stay queued."""


class HubRejected(HubError):
    """The hub refused a request (4xx)."""

    def __init__(self, message: str, *, status_code: int, detail: object = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.detail = detail


class HubBadAnswer(HubError):
    """The hub's answer is malformed (not JSON, a field missing or of the wrong type) or past a bound
    (too large, too many pages): the agent treats the hub as broken for this step and says what was wrong."""


class HubRateLimited(HubUnavailable):
    """The hub said 429 (rate limit or daily quota) and kept saying it; try again later."""

    def __init__(self, message: str, *, retry_after: float | None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class FeedCursorExpired(HubRejected):
    """410: the hub can no longer serve changes since this cursor; re-pull from 0."""
