"""One run of the driver: the browser, its context, the session, and how each page is fetched.

`Runtime` is the async core the operations build on. `view()` fetches a page the way its selectors file
says (`http`: `context.request` and selectolax; `browser`: a pooled page; `json` pages are read through
`listing()`), `unit()` wraps one logical step so that an expired session is renewed once and any failure
leaves a screenshot and the HTML behind, and `paginate()` reads a table's pages `browser.concurrency` at
a time while yielding them in order.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from typing import TypeVar

from playwright.async_api import Browser, BrowserContext, Page, Playwright, async_playwright
from playwright.async_api import Error as PlaywrightError

from agent.backend.artifacts import ArtifactStore
from agent.backend.browser import display_available, launch, new_context
from agent.backend.html import PageFailure, PageView
from agent.backend.login_guard import LoginGuard
from agent.backend.pages import (
    BlacklistConfirmPage,
    BlacklistResultPage,
    BuyerPage,
    CustomersPage,
    HomePage,
    Listing,
    OrderDetailPage,
    OrdersPage,
    PageObject,
    TablePage,
)
from agent.backend.selectors import SiteSelectors
from agent.backend.session import OtpPrompt, Session, SessionFile
from agent.backend.transport import Fetched, Transport
from agent.config import Settings
from agent.errors import BackendError, SessionExpired

logger = logging.getLogger(__name__)
T = TypeVar("T")
MAX_PAGES = 100_000  # a table that never ends is a layout bug, not a big store


class Runtime:
    def __init__(
        self,
        settings: Settings,
        site: SiteSelectors,
        playwright: Playwright,
        browser: Browser,
        context: BrowserContext,
        session: Session,
        transport: Transport,
        artifacts: ArtifactStore,
    ) -> None:
        self.settings = settings
        self.site = site
        self.playwright = playwright
        self.browser = browser
        self.context = context
        self.session = session
        self.transport = transport
        self.artifacts = artifacts
        self.concurrency = settings.browser.concurrency
        self.home = HomePage(site)
        self.customers = CustomersPage(site)
        self.orders = OrdersPage(site)
        self.order_detail = OrderDetailPage(site)
        self.buyer = BuyerPage(site) if "buyer" in site.pages else None
        self.confirm = BlacklistConfirmPage(site)
        self.result = BlacklistResultPage(site)
        self._idle_pages: list[Page] = []
        self._page_slots = asyncio.Semaphore(self.concurrency)
        self._csrf: dict[str, tuple[int, str]] = {}

    @classmethod
    async def start(
        cls,
        settings: Settings,
        site: SiteSelectors,
        *,
        password: str,
        otp_prompt: OtpPrompt | None,
        headless: bool,
        human: bool = False,
    ) -> Runtime:
        if not headless and not display_available():
            logger.warning("no display: running the browser headless")
            headless = True
        playwright = await async_playwright().start()
        try:
            browser = await launch(settings, playwright, headless=headless)
            session_file = SessionFile(settings.session_path)
            try:
                context = await new_context(browser, settings, storage_state=session_file.existing())
            except PlaywrightError:
                logger.warning("the saved session is unreadable; starting a new one")
                session_file.forget()
                context = await new_context(browser, settings)
        except BaseException:
            await playwright.stop()
            raise
        artifacts = ArtifactStore(settings.artifacts_dir, context)
        transport = Transport(context, settings, site, artifacts)
        session = Session(
            context=context,
            site=site,
            transport=transport,
            artifacts=artifacts,
            file=session_file,
            username=settings.backend.username,
            password=password,
            otp_prompt=otp_prompt,
            guard=LoginGuard(
                settings.session_path, min_interval_seconds=settings.backend.login_min_interval_seconds
            ),
            human=human,
        )
        return cls(settings, site, playwright, browser, context, session, transport, artifacts)

    async def close(self) -> None:
        try:
            await self.transport.drain()
            if self.session.generation > 0 or self.session.file.existing():
                with suppress(PlaywrightError):
                    self.session.file.save(dict(await self.context.storage_state()))
            await self.context.close()
            await self.browser.close()
        finally:
            await self.playwright.stop()

    async def ensure_session(self) -> None:
        if not await self.session.is_valid():
            await self.session.login()

    async def unit(self, step: Callable[[], Awaitable[T]]) -> T:
        """Run one logical step: renew an expired session once, save artifacts of any failure."""
        renewed = False
        while True:
            generation = self.session.generation
            try:
                return await step()
            except SessionExpired as exc:
                if renewed:
                    await self.artifacts.attach(exc)
                    raise
                logger.info("session expired at %s; logging in again", exc.url)
                await self.session.renew(generation)
                renewed = True
            except BackendError as exc:
                html = getattr(exc, "html", None)
                await self.artifacts.attach(exc, html=html)
                if html is not None:
                    exc.html = None  # type: ignore[attr-defined]
                raise

    @asynccontextmanager
    async def page(self) -> AsyncIterator[Page]:
        """A browser page from a pool of at most `browser.concurrency`."""
        async with self._page_slots:
            page = self._idle_pages.pop() if self._idle_pages else await self._new_page()
            try:
                yield page
            finally:
                if not page.is_closed():
                    self._idle_pages.append(page)

    async def _new_page(self) -> Page:
        page = await self.context.new_page()
        # The agent clicks only what it means to: accept the backend's "are you sure?" dialogs.
        page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
        return page

    async def fetch(self, po: PageObject, url: str, *, allow_error_status: bool = False) -> PageView:
        """A page's HTML by plain request (`http` and `json` pages: the server renders the HTML shell)."""
        fetched = await self.transport.get(po.name, url)
        self._check_status(po, fetched, allow_error_status)
        return po.view(fetched.url, fetched.text)

    async def render(
        self, po: PageObject, page: Page, url: str, *, allow_error_status: bool = False
    ) -> PageView:
        """A page rendered in a browser page (scripts run); waits for JavaScript-filled tables."""
        fetched = await self.transport.goto(po.name, page, url, wait_until="networkidle")
        self._check_status(po, fetched, allow_error_status)
        return po.view(fetched.url, fetched.text)

    async def view(self, po: PageObject, url: str, *, allow_error_status: bool = False) -> PageView:
        if po.strategy == "browser":
            async with self.page() as page:
                return await self.render(po, page, url, allow_error_status=allow_error_status)
        return await self.fetch(po, url, allow_error_status=allow_error_status)

    def _check_status(self, po: PageObject, fetched: Fetched, allowed: bool) -> None:
        if fetched.status >= 400 and not allowed:
            raise PageFailure(
                f"page {po.name!r} answered HTTP {fetched.status}",
                html=fetched.text,
                page=po.name,
                url=fetched.url,
            )

    async def listing(self, po: TablePage, url_name: str, number: int, **params: object) -> Listing:
        url = self.transport.url(url_name, page=number, **params)
        if po.strategy != "json":
            return po.listing(await self.view(po, url))
        api_url = self.transport.url(f"{url_name}_api", page=number, **params)
        for fresh_token in (False, True):
            headers = await self._api_headers(po, url, refresh=fresh_token)
            fetched = await self.transport.get(po.name, api_url, headers=headers)
            if fetched.status != 403 or not headers:
                break
        self._check_status(po, fetched, False)
        try:
            data = json.loads(fetched.text)
        except ValueError:
            raise BackendError(
                f"page {po.name!r}: the JSON endpoint did not answer JSON", page=po.name, url=api_url
            ) from None
        return po.listing_from_json(data, number, api_url)

    async def _api_headers(self, po: TablePage, page_url: str, *, refresh: bool) -> dict[str, str]:
        """The anti-forgery header a single-page layout copies from its HTML into every API call."""
        header = po.spec.csrf_header
        if header is None:
            return {}
        cached = self._csrf.get(po.name)
        if refresh or cached is None or cached[0] != self.session.generation:
            generation = self.session.generation
            token = (await self.fetch(po, page_url)).text("csrf_token")
            cached = (generation, token)
            self._csrf[po.name] = cached
        return {header: cached[1]}

    async def paginate(self, po: TablePage, url_name: str, **params: object) -> AsyncIterator[Listing]:
        """Every page of a table, in order, reading ahead so that `concurrency` requests stay in flight.

        Reading stops at the first page without a `next_page` (JSON: past `pages`), or without rows. Pages
        are requested ahead of the one being read (twice `concurrency`, so that one slow page does not
        idle the other slots); when the page shows the row count (`total`), read-ahead stops one page past
        the count it implies, so a short listing costs at most one request it did not need.
        """

        def fetch(number: int) -> Awaitable[Listing]:
            return self.unit(lambda: self.listing(po, url_name, number, **params))

        first = await fetch(1)
        yield first
        if not first.has_next or not first.rows:
            return
        last = min(first.page_count or MAX_PAGES, MAX_PAGES)
        hint = first.page_count or (math.ceil(first.total / len(first.rows)) if first.total else None)
        window = 2 * self.concurrency
        inflight: dict[int, asyncio.Task[Listing]] = {}
        scheduled = 1
        try:
            for number in range(2, last + 1):
                while (
                    scheduled < last
                    and len(inflight) < window
                    and (hint is None or scheduled < max(hint + 1, number))
                ):
                    scheduled += 1
                    inflight[scheduled] = asyncio.ensure_future(fetch(scheduled))
                listing = await inflight.pop(number)
                yield listing
                if not listing.has_next or not listing.rows:
                    return
        finally:
            for task in inflight.values():
                task.cancel()
            await asyncio.gather(*inflight.values(), return_exceptions=True)
