"""The backend session: saved owner-only, reused, and renewed by logging in through the browser.

The session is Playwright's `storage_state` (cookies and local storage) in `settings.session_path`, written
atomically with mode 0600 in a 0700 directory: it is as good as a password for the seller's store. Logging in
always uses a real page (CSRF, scripts, device checks); a one-time code is asked of a human through the
`otp_prompt` callback, and without one the login stops with `LoginNeedsHuman` instead of retrying.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.async_api import BrowserContext, Page

from agent.backend.artifacts import ArtifactStore
from agent.backend.html import PageMismatch
from agent.backend.pages import HomePage, LoginPage, OtpPage
from agent.backend.selectors import SiteSelectors
from agent.backend.transport import Transport
from agent.errors import BackendError, LoginFailed, LoginNeedsHuman, SessionExpired

logger = logging.getLogger(__name__)

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
    ) -> None:
        self.context = context
        self.transport = transport
        self.artifacts = artifacts
        self.file = file
        self.username = username
        self._password = password
        self.otp_prompt = otp_prompt
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
        page = await self.context.new_page()
        try:
            await self._login(page)
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
        logger.info("logged in to the seller backend as %s; session saved", self.username)

    async def _login(self, page: Page) -> None:
        login_url = self.transport.url("login")
        await self.transport.goto("login", page, login_url)
        html = await page.content()
        if not self.login_page.shows_form(self.login_page.view(page.url, html)) and self.home_page.is_home(
            self.home_page.view(page.url, html)
        ):
            return  # still logged in (the login page sent us home): nothing to type
        await self.login_page.submit(page, self.username, self._password)
        view = self.login_page.view(page.url, await page.content())
        if self.otp_page is not None and self.otp_page.asks_for_code(self.otp_page.view(page.url, view.html)):
            await self._one_time_code(page)
        elif self.transport.is_login(page.url) or self.login_page.shows_form(view):
            refusal = self.login_page.refusal(view)
            message, locked = refusal or ("the login page came back without saying why", False)
            raise LoginFailed(f"login refused: {message}", locked=locked, page="login", url=page.url)
        await self._prove_home(page)

    async def _one_time_code(self, page: Page) -> None:
        assert self.otp_page is not None
        if self.otp_prompt is None:
            raise LoginNeedsHuman(NEEDS_HUMAN, page="otp", url=page.url)
        logger.info("the backend asks for a one-time code; asking the seller")
        code = (await asyncio.to_thread(self.otp_prompt)).strip()
        if not code:
            raise LoginNeedsHuman("no one-time code was entered", page="otp", url=page.url)
        await self.otp_page.submit(page, code)
        view = self.otp_page.view(page.url, await page.content())
        if self.otp_page.asks_for_code(view):
            raise LoginFailed(f"one-time code refused: {self.otp_page.error(view)}", page="otp", url=page.url)

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
