"""The driver's connections to the backend: plain requests at once, a browser only when one is needed.

With a saved session, pages read over `http` or `json` need no browser at all, nor Playwright: `request` is
then an httpx client with the saved storage state's cookies (agent.backend.http_requests). Playwright, the
browser and its context (which takes the cookies over) start on the first call that needs a page: a login,
a one-time code, a page or action whose strategy is `browser`. From then on `request` is the browser
context's own, so both share one cookie jar. `launches` counts the browsers started (tests read it).
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

from playwright.async_api import (
    APIRequestContext,
    Browser,
    BrowserContext,
    Page,
    Playwright,
    async_playwright,
)

from agent.backend.browser import launch, new_context
from agent.backend.http_requests import HttpxRequests
from agent.config import Settings

logger = logging.getLogger(__name__)


class Contexts:
    """`request` for plain requests, `new_page()` for a browser page (the browser starts on first use)."""

    def __init__(self, settings: Settings, *, headless: bool) -> None:
        self.settings = settings
        self.headless = headless
        self.launches = 0
        self.playwright: Playwright | None = None
        self._api: HttpxRequests | None = None
        self._browser: Browser | None = None
        self._context: BrowserContext | None = None
        self._lock = asyncio.Lock()

    async def open_requests(self, storage_state: Path | None) -> bool:
        """Start plain requests with a saved storage state's cookies; False when that state is unreadable."""
        state: dict[str, Any] | None = None
        readable = True
        if storage_state is not None:
            try:
                loaded = json.loads(storage_state.read_text(encoding="utf-8"))
                state = (
                    loaded if isinstance(loaded, dict) and isinstance(loaded.get("cookies"), list) else None
                )
                readable = state is not None
            except (OSError, ValueError):
                readable = False
        try:
            self._api = HttpxRequests(
                timeout_seconds=self.settings.backend.timeout_seconds, storage_state=state
            )
        except (KeyError, TypeError, ValueError):  # cookies of an unexpected shape
            self._api = HttpxRequests(timeout_seconds=self.settings.backend.timeout_seconds)
            readable = False
        return readable

    @property
    def browser_started(self) -> bool:
        return self._context is not None

    @property
    def launched_context(self) -> BrowserContext | None:
        """The browser context if the browser runs already (never starts it)."""
        return self._context

    @property
    def request(self) -> APIRequestContext | HttpxRequests:
        if self._context is not None:
            return self._context.request
        assert self._api is not None, "open_requests() first"
        return self._api

    async def browser_context(self) -> BrowserContext:
        """The browser context, starting Chromium with the current cookies the first time."""
        async with self._lock:
            if self._context is None:
                state = await self._api.storage_state() if self._api is not None else None
                if self.playwright is None:
                    self.playwright = await async_playwright().start()
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
        elif self._api is not None:
            self._api.add_cookies(cookies)

    async def close(self) -> None:
        try:
            if self._context is not None:
                await self._context.close()
            if self._browser is not None:
                await self._browser.close()
        finally:
            try:
                if self._api is not None:
                    await self._api.dispose()
            finally:
                if self.playwright is not None:
                    await self.playwright.stop()
