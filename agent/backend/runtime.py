"""One run of the driver: its connections, the session, the fetchers, and careful pagination.

`Runtime` is the async core the operations build on. `fetcher(strategy)` gives the way a page is read or an
action carried out (see agent.backend.fetchers); `unit()` wraps one logical step so that an expired session
is renewed once and any failure leaves the HTML (and a screenshot when a browser runs) behind; `paginate()`
reads a table's pages, ahead when the site numbers its pages, and stops when the list ends, when a page
repeats the one before it, or when the count the page shows is reached. No browser starts unless a login, a
one-time code, a `browser` page or a `browser` action needs one (see agent.backend.contexts).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import TypeVar, cast

from playwright.async_api import BrowserContext, Page
from playwright.async_api import Error as PlaywrightError

from agent.backend.artifacts import ArtifactStore
from agent.backend.browser import display_available
from agent.backend.contexts import Contexts
from agent.backend.fetchers import BrowserFetcher, Fetcher, HttpFetcher, JsonFetcher
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
    TablePage,
)
from agent.backend.selectors import SiteSelectors
from agent.backend.session import OtpPrompt, Session, SessionFile
from agent.backend.transport import Transport
from agent.config import Settings
from agent.errors import BackendError, SessionExpired

logger = logging.getLogger(__name__)
T = TypeVar("T")
MAX_PAGES = 100_000  # a table that never ends is a layout bug, not a big store


@dataclass(frozen=True, slots=True)
class PaginationStop:
    """A table read that ended other than by the list's own end (said in the log and kept for reports)."""

    page: str
    url: str
    reason: str

    def __str__(self) -> str:
        return f"page {self.page!r} ({self.url}): {self.reason}"


class Runtime:
    def __init__(
        self,
        settings: Settings,
        site: SiteSelectors,
        contexts: Contexts,
        session: Session,
        transport: Transport,
        artifacts: ArtifactStore,
    ) -> None:
        self.settings = settings
        self.site = site
        self.contexts = contexts
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
        self.http = HttpFetcher(self)
        self.browser = BrowserFetcher(self)
        self.json = JsonFetcher(self)
        self.stops: list[PaginationStop] = []
        self._idle_pages: list[Page] = []
        self._page_slots = asyncio.Semaphore(self.concurrency)

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
        contexts = Contexts(settings, headless=headless)
        session_file = SessionFile(settings.session_path)
        if not await contexts.open_requests(session_file.existing()):
            logger.warning("the saved session is unreadable; starting a new one")
            session_file.forget()
        # The session, transport and artifacts see `contexts` as the browser context: they use only
        # `request`, `new_page()`, `storage_state()` and `add_cookies()`, which start the browser on demand.
        context = cast(BrowserContext, contexts)
        artifacts = ArtifactStore(settings.artifacts_dir, contexts, keep=settings.browser.artifacts_keep)
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
        return cls(settings, site, contexts, session, transport, artifacts)

    async def close(self) -> None:
        try:
            await self.transport.drain()
            if self.session.generation > 0 or self.session.file.existing():
                with suppress(PlaywrightError):
                    self.session.file.save(await self.contexts.storage_state())
        finally:
            await self.contexts.close()

    def absolute(self, url: str) -> str:
        return self.transport.absolute(url)

    def fetcher(self, strategy: str) -> Fetcher:
        """The fetcher of a page read or an action (`json` pages open their HTML shell over http)."""
        return self.browser if strategy == "browser" else self.http

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
        """A browser page from a pool of at most `browser.concurrency` (the browser starts on first use)."""
        async with self._page_slots:
            page = self._idle_pages.pop() if self._idle_pages else await self._new_page()
            try:
                yield page
            finally:
                if not page.is_closed():
                    self._idle_pages.append(page)

    async def _new_page(self) -> Page:
        page = await self.contexts.new_page()
        # The agent clicks only what it means to: accept the backend's "are you sure?" dialogs.
        page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
        return page

    async def listing(self, po: TablePage, role: str, index: int, **params: object) -> Listing:
        """The table's page at 0-based `index`, read the way its selectors file says."""
        if po.strategy == "json":
            return await self.json.listing(po, role, index, **params)
        return await self.listing_at(po, self.absolute(po.page_url(role, index, **params)), index)

    async def listing_at(self, po: TablePage, url: str, index: int) -> Listing:
        async with self.fetcher(po.strategy).opened(po, url) as opened:
            return po.listing(opened.view, index)

    def _stop(self, po: TablePage, listing: Listing, reason: str) -> None:
        stop = PaginationStop(po.name, listing.url, reason)
        self.stops.append(stop)
        logger.warning("stopped reading %s", stop)

    async def paginate(self, po: TablePage, role: str, **params: object) -> AsyncIterator[Listing]:
        """Every page of a table, in order, each row once.

        Reading ends normally at a page without `next_page` (JSON: past `pages`) or without rows. It also
        stops, and says so naming the page, when a page shows the same rows as the page before it (a site
        that serves its last page again for any page past the end) or when the rows read reach the count
        the page shows while it still offers a next page (a `next_page` selector that matches a disabled
        link). The request budget of a cycle (the transport) bounds the rest.
        """
        if po.spec.pagination.mode == "next_link" and po.strategy != "json":
            pages = self._follow_links(po, role, **params)
        else:
            pages = self._numbered(po, role, **params)
        seen = 0
        previous: tuple[str, ...] | None = None
        try:
            async for listing in pages:
                keys = po.keys(listing)
                if previous is not None and keys and keys == previous:
                    self._stop(po, listing, "shows the same rows as the page before it")
                    return
                previous = keys
                seen += len(listing.rows)
                yield listing
                if not listing.has_next or not listing.rows:
                    return
                if listing.total is not None and seen >= listing.total:
                    self._stop(
                        po, listing, f"offers a next page after all {listing.total} rows it counts were read"
                    )
                    return
        finally:
            await pages.aclose()

    async def _follow_links(self, po: TablePage, role: str, **params: object) -> AsyncGenerator[Listing]:
        url = self.absolute(po.page_url(role, 0, **params))
        for index in range(MAX_PAGES):
            listing = await self.unit(lambda at=url, i=index: self.listing_at(po, at, i))  # type: ignore[misc]
            yield listing
            if not listing.next_url:
                if listing.has_next:
                    self._stop(po, listing, "its `next_page` has no href to follow")
                return
            url = listing.next_url

    async def _numbered(self, po: TablePage, role: str, **params: object) -> AsyncGenerator[Listing]:
        """Pages by number or offset, reading ahead so that `concurrency` requests stay in flight.

        Pages are requested ahead of the one being read (twice `concurrency`, so that one slow page does
        not idle the other slots); when the page shows the row count (`total`), read-ahead stops one page
        past the count it implies, so a short listing costs at most one request it did not need.
        """

        def fetch(index: int) -> Awaitable[Listing]:
            return self.unit(lambda: self.listing(po, role, index, **params))

        first = await fetch(0)
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
                    inflight[scheduled] = asyncio.ensure_future(fetch(scheduled - 1))
                listing = await inflight.pop(number)
                yield listing
                if not listing.has_next or not listing.rows:
                    return
        finally:
            for task in inflight.values():
                task.cancel()
            await asyncio.gather(*inflight.values(), return_exceptions=True)
