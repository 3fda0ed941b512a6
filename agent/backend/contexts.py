"""The driver's connections to the backend: plain requests at once, a browser only when one is needed.

With a saved session, pages read over `http` or `json` need no browser at all: `request` is then a
Playwright `APIRequestContext` built from the saved storage state (cookies), which costs no Chromium
process. The browser (and its context, which takes the cookies over) starts on the first call that needs a
page: a login, a one-time code, a page or action whose strategy is `browser`, a screenshot of a failure.
From then on `request` is the browser context's own, so both share one cookie jar. `launches` counts the
browsers started (tests and `doctor` read it).
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from playwright.async_api import APIRequestContext, Browser, BrowserContext, Page, Playwright
from playwright.async_api import Error as PlaywrightError

from agent.backend.browser import launch, new_context
from agent.config import Settings

logger = logging.getLogger(__name__)


class Contexts:
    """`request` for plain requests, `new_page()` for a browser page (the browser starts on first use)."""

    def __init__(self, playwright: Playwright, settings: Settings, *, headless: bool) -> None:
        self.playwright = playwright
        self.settings = settings
        self.headless = headless
        self.launches = 0
        self._api: APIRequestContext | None = None
        self._browser: Browser | None = None
        self._context: BrowserContext | None = None
        self._lock = asyncio.Lock()

    async def open_requests(self, storage_state: Path | None) -> bool:
        """Start the request context from a saved storage state; False when that state is unreadable."""
        try:
            self._api = await self._new_api(str(storage_state) if storage_state else None)
        except PlaywrightError:
            self._api = await self._new_api(None)
            return False
        return True

    async def _new_api(self, storage_state: str | dict[str, Any] | None) -> APIRequestContext:
        backend = self.settings.backend
        return await self.playwright.request.new_context(
            base_url=backend.base_url,
            storage_state=storage_state,  # type: ignore[arg-type]
            timeout=backend.timeout_seconds * 1000,
        )

    @property
    def browser_started(self) -> bool:
        return self._context is not None

    @property
    def launched_context(self) -> BrowserContext | None:
        """The browser context if the browser runs already (never starts it)."""
        return self._context

    @property
    def request(self) -> APIRequestContext:
        if self._context is not None:
            return self._context.request
        assert self._api is not None, "open_requests() first"
        return self._api

    async def browser_context(self) -> BrowserContext:
        """The browser context, starting Chromium with the current cookies the first time."""
        async with self._lock:
            if self._context is None:
                state = await self._api.storage_state() if self._api is not None else None
                browser = await launch(self.settings, self.playwright, headless=self.headless)
                self.launches += 1
                try:
                    self._context = await new_context(browser, self.settings, storage_state=state)
                except BaseException:
                    await browser.close()
                    raise
                self._browser = browser
            return self._context

    async def new_page(self) -> Page:
        return await (await self.browser_context()).new_page()

    async def storage_state(self) -> dict[str, Any]:
        if self._context is not None:
            return dict(await self._context.storage_state())
        assert self._api is not None
        return dict(await self._api.storage_state())

    async def add_cookies(self, cookies: list[Any]) -> None:
        """Take over cookies another process saved (a new session) in whichever context is in use."""
        if self._context is not None:
            await self._context.add_cookies(cookies)
            return
        old = self._api
        state = await old.storage_state() if old is not None else {"cookies": [], "origins": []}
        merged = {(c["name"], c["domain"], c["path"]): c for c in [*state["cookies"], *cookies]}
        self._api = await self._new_api({"cookies": list(merged.values()), "origins": state["origins"]})
        if old is not None:
            await old.dispose()

    async def close(self) -> None:
        try:
            if self._context is not None:
                await self._context.close()
            if self._browser is not None:
                await self._browser.close()
        finally:
            if self._api is not None:
                await self._api.dispose()
