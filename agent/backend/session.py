"""The backend session: saved owner-only, reused, and renewed by logging in through the browser.

The session is Playwright's `storage_state` (cookies and local storage) in `settings.session_path`, written
atomically with mode 0600 in a 0700 directory: it is as good as a password for the seller's store. Logging in
always uses a real page (CSRF, scripts, device checks); a one-time code is asked of a human through the
`otp_prompt` callback (a wrong code is asked again, up to `OTP_TRIES` times), and without one the login
stops with `LoginNeedsHuman` instead of retrying.

Every login goes through the `LoginGuard` (agent.backend.login_guard): one process at a time, spaced out,
and none at all while a refusal is on record, until a human login succeeds. A process that waited for
another one's login adopts the session it saved instead of logging in again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from playwright.async_api import BrowserContext, Page, Response

from agent.backend.artifacts import ArtifactStore
from agent.backend.html import PageMismatch, PageView, clean
from agent.backend.login_guard import LoginGuard, LoginRefusal, lockout_wait, looks_locked
from agent.backend.pages import HomePage, LoginPage, OtpPage
from agent.backend.selectors import SiteSelectors
from agent.backend.transport import Transport
from agent.errors import BackendError, LoginFailed, LoginNeedsHuman, SessionExpired

logger = logging.getLogger(__name__)

OTP_TRIES = 3  # a mistyped code is asked again; the backend voids a code after a few wrong ones
OtpPrompt = Callable[[], str]
NEEDS_HUMAN = (
    "the seller backend asks for a one-time code (new device check); run "
    "`blacklist-agent login --interactive` once to enter it, then background runs reuse the session"
)


class SessionFile:
    """Playwright storage state on disk, readable by its owner only."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def existing(self) -> Path | None:
        return self.path if self.path.is_file() else None

    def stamp(self) -> int | None:
        """The file's modification time (ns), to notice a session another process saved."""
        try:
            return self.path.stat().st_mtime_ns
        except OSError:
            return None

    def load(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def save(self, state: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.path.parent, 0o700)
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(state, f)
        os.chmod(tmp, 0o600)  # O_CREAT's mode does not apply to a file left over from a crash
        os.replace(tmp, self.path)

    def forget(self) -> None:
        self.path.unlink(missing_ok=True)


class Session:
    """Logs in on demand; concurrent workers that all saw an expired session trigger one login."""

    def __init__(
        self,
        *,
        context: BrowserContext,
        site: SiteSelectors,
        transport: Transport,
        artifacts: ArtifactStore,
        file: SessionFile,
        username: str,
        password: str,
        otp_prompt: OtpPrompt | None,
        guard: LoginGuard | None = None,
        human: bool = False,
    ) -> None:
        self.context = context
        self.transport = transport
        self.artifacts = artifacts
        self.file = file
        self.username = username
        self._password = password
        self.otp_prompt = otp_prompt
        self.guard = guard or LoginGuard(file.path)
        self.human = human  # a person typed this password: try it even when a refusal is on record
        self._known_stamp = file.stamp()
        self.login_page = LoginPage(site)
        self.otp_page = OtpPage(site) if "otp" in site.pages else None
        self.home_page = HomePage(site)
        self.generation = 0
        self.logins = 0
        self._lock = asyncio.Lock()
        self._attempts = 0
        self._refusal: BackendError | None = None

    async def is_valid(self) -> bool:
        """Whether the current cookies reach the home page (one request; a page if it needs scripts)."""
        url = self.transport.url("home")
        try:
            if self.home_page.strategy == "browser":
                page = await self.context.new_page()
                try:
                    fetched = await self.transport.goto("home", page, url)
                finally:
                    await page.close()
            else:
                fetched = await self.transport.get("home", url)
        except SessionExpired:
            return False
        return self.home_page.is_home(self.home_page.view(fetched.url, fetched.text))

    async def renew(self, seen_generation: int) -> None:
        """Log in again, unless another worker already did since `seen_generation`.

        Workers that were waiting while a login was refused get that same error instead of each trying
        again (a one-time code or a lockout must not be hammered); a later call tries again.
        """
        attempts_seen = self._attempts
        async with self._lock:
            if self.generation != seen_generation:
                return
            if self._attempts != attempts_seen and self._refusal is not None:
                raise self._refusal
            self._attempts += 1
            try:
                await self.login()
            except (LoginFailed, LoginNeedsHuman) as exc:
                self._refusal = exc
                raise
            self._refusal = None

    async def login(self) -> None:
        """Log in under the guard (see agent.backend.login_guard), or adopt a session another process
        saved meanwhile."""
        async with self.guard.turn(human=self.human):
            if not self.human and await self._adopt_saved_session():
                return
            await self.guard.begin()
            page = await self.context.new_page()
            try:
                await self._login(page)
            except LoginFailed as exc:
                failure = exc
                if exc.page == "login" and (exc.locked or not self.human):
                    refusal = LoginRefusal.from_error(exc, self.username)
                    self.guard.record_refusal(refusal)
                    # The same failure, saying what happens now and what the seller should do.
                    failure = LoginFailed(
                        refusal.describe(),
                        locked=exc.locked,
                        retry_at=exc.retry_at,
                        page=exc.page,
                        url=exc.url,
                    )
                await self.artifacts.attach(failure, page=page)
                raise failure from None
            except BackendError as exc:
                html = exc.html if isinstance(exc, PageMismatch) else None
                await self.artifacts.attach(exc, html=html, page=page)
                if isinstance(exc, PageMismatch):
                    exc.html = None
                raise
            finally:
                await page.close()
            self.generation += 1
            self.logins += 1
            self.file.save(dict(await self.context.storage_state()))
            self._known_stamp = self.file.stamp()
            self.guard.clear()
        logger.info("logged in to the seller backend as %s; session saved", self.username)

    async def _adopt_saved_session(self) -> bool:
        """True when another process saved a working session since this one loaded (or saved) its own."""
        stamp = self.file.stamp()
        if stamp is None or stamp == self._known_stamp:
            return False
        self._known_stamp = stamp
        state = self.file.load()
        cookies = state.get("cookies") if state else None
        if not cookies:
            return False
        await self.context.add_cookies(cookies)
        if not await self.is_valid():
            return False
        logger.info("another process of this agent logged in meanwhile: using the session it saved")
        self.generation += 1
        return True

    async def _login(self, page: Page) -> None:
        login_url = self.transport.url("login")
        await self.transport.goto("login", page, login_url)
        html = await page.content()
        if not self.login_page.shows_form(self.login_page.view(page.url, html)) and self.home_page.is_home(
            self.home_page.view(page.url, html)
        ):
            return  # still logged in (the login page sent us home): nothing to type
        await self._submit_password(page, login_url)
        view = self.login_page.view(page.url, await page.content())
        if self.otp_page is not None and self.otp_page.asks_for_code(self.otp_page.view(page.url, view.html)):
            await self._one_time_code(page)
        elif self.transport.is_login(page.url) or self.login_page.shows_form(view):
            raise self._refused(view, page.url)
        await self._prove_home(page)

    async def _submit_password(self, page: Page, login_url: str) -> None:
        """Send the login form. A server error (5xx) or a 429 answering it is no verdict on the password:
        it is retried like any page (a fresh login form each time) and, if it persists, ends in
        BackendUnavailable, never in a refusal that would stop the agent's logins."""
        sent = False

        async def attempt() -> Response | None:
            nonlocal sent
            if sent:  # the error page replaced the form
                response = await page.goto(
                    login_url, wait_until="domcontentloaded", timeout=self.transport.timeout_ms
                )
                if response is not None and (response.status >= 500 or response.status == 429):
                    return response
            sent = True
            return await self.login_page.submit(page, self.username, self._password)

        await self.transport.send_in_browser("login", login_url, attempt)

    def _refused(self, view: PageView, url: str) -> LoginFailed:
        """The login page's refusal, with a lockout recognised (by the page's `locked` outcome or its
        wording) and the wait it names turned into a time to try again."""
        message, locked = self.login_page.refusal(view) or (
            "the login page came back without saying why",
            False,
        )
        lock_text = _outcome_text(view, "locked")
        if lock_text:
            message, locked = lock_text, True
        locked = locked or looks_locked(message)
        wait = lockout_wait(message) if locked else None
        retry_at = datetime.now(UTC) + wait if wait is not None else None
        what = "account locked" if locked else "login refused"
        return LoginFailed(f"{what}: {message}", locked=locked, retry_at=retry_at, page="login", url=url)

    async def _one_time_code(self, page: Page) -> None:
        assert self.otp_page is not None
        if self.otp_prompt is None:
            raise LoginNeedsHuman(NEEDS_HUMAN, page="otp", url=page.url)
        problem = ""
        for tries in range(1, OTP_TRIES + 1):
            logger.info("the backend asks for a one-time code; asking the seller")
            code = (await asyncio.to_thread(self.otp_prompt)).strip()
            if not code:
                raise LoginNeedsHuman("no one-time code was entered", page="otp", url=page.url)
            await self.otp_page.submit(page, code)
            html = await page.content()
            view = self.otp_page.view(page.url, html)
            if not self.otp_page.asks_for_code(view):
                login_view = self.login_page.view(page.url, html)
                if self.login_page.shows_form(login_view):  # the backend voided the code: start over
                    refusal = self.login_page.refusal(login_view)
                    why = refusal[0] if refusal else "the backend asked for the password again"
                    raise LoginFailed(f"one-time code refused: {why}", page="otp", url=page.url)
                return
            problem = self.otp_page.error(view)
            if tries < OTP_TRIES:
                logger.warning(
                    "the backend refused the one-time code (%s); asking again (%d of %d tries left)",
                    problem,
                    OTP_TRIES - tries,
                    OTP_TRIES,
                )
        raise LoginFailed(f"one-time code refused {OTP_TRIES} times: {problem}", page="otp", url=page.url)

    async def _prove_home(self, page: Page) -> None:
        view = self.home_page.view(page.url, await page.content())
        if self.home_page.is_home(view):
            return
        try:
            fetched = await self.transport.goto("home", page, self.transport.url("home"))
        except SessionExpired:
            raise LoginFailed(
                "login did not stick: the backend sent us back to the login page", page="home", url=page.url
            ) from None
        self.home_page.prove(self.home_page.view(fetched.url, fetched.text))


def _outcome_text(view: PageView, name: str) -> str:
    """The text of the element showing outcome `name` on the page, or ""."""
    outcome = view.spec.outcomes.get(name)
    if outcome is None:
        return ""
    for node in view.tree.css(outcome.css):
        text = clean(node.text())
        if outcome.text is None or outcome.text.search(text):
            return text
    return ""
