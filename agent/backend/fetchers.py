"""Fetchers: how a page is opened and its action carried out, chosen per action by the selectors file.

    Fetcher.opened(page object, url) -> Opened      a page, read as a `PageView`
    Opened.submit(page object, form, control css)   a proven form or link sent (the answer page back)
    Opened.row_action(table page, member id, name)  a row's control used (None: the row is not there)

- `HttpFetcher`: plain requests (`Transport.get`/`post_form`, same cookies as the browser); a form is
  replayed with its hidden fields, a link is followed with a GET. No browser page is involved.
- `BrowserFetcher`: a pooled browser page; the control is clicked, JavaScript dialogs are accepted.
- `JsonFetcher`: a table's rows from its JSON endpoint (with the anti-forgery header a single-page layout
  copies from its HTML); reading only, its actions go through one of the other two.
The operations never branch on a strategy: they ask the runtime for the fetcher of an action.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from playwright.async_api import Page

from agent.backend.html import Form, PageFailure, PageView
from agent.backend.pages import CustomersPage, Listing, PageObject, TablePage
from agent.backend.transport import Fetched
from agent.errors import BackendError, SessionExpired

if TYPE_CHECKING:
    from agent.backend.runtime import Runtime


class Opened(ABC):
    """An opened page: its view, and how to act on it."""

    def __init__(self, view: PageView) -> None:
        self.view = view

    @abstractmethod
    async def submit(self, po: PageObject, form: Form, control_css: str) -> Fetched:
        """Send a proven form (or follow a link, as a GET `Form`); returns the answer page."""

    @abstractmethod
    async def row_action(self, po: CustomersPage, member_id: str, action: str) -> Fetched | None:
        """Use the `action` control of the row of `member_id`; None when that row is not on the page."""


class Fetcher(ABC):
    strategy: str

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    @abstractmethod
    def opened(
        self, po: PageObject, url: str, *, allow_error_status: bool = False
    ) -> AbstractAsyncContextManager[Opened]:
        """`async with fetcher.opened(po, url) as opened:` the page stays usable inside the block."""


def check_status(po: PageObject, fetched: Fetched, allowed: bool) -> None:
    if fetched.status >= 400 and not allowed:
        raise PageFailure(
            f"page {po.name!r} answered HTTP {fetched.status}",
            html=fetched.text,
            page=po.name,
            url=fetched.url,
        )


class HttpOpened(Opened):
    def __init__(self, rt: Runtime, view: PageView) -> None:
        super().__init__(view)
        self.rt = rt

    async def submit(self, po: PageObject, form: Form, control_css: str) -> Fetched:
        if form.method == "post":
            return await self.rt.transport.post_form(po.name, form.action, form.fields)
        if not form.fields:
            return await self.rt.transport.get(po.name, form.action)
        sep = "&" if "?" in form.action else "?"
        return await self.rt.transport.get(po.name, f"{form.action}{sep}{urlencode(form.fields)}")

    async def row_action(self, po: CustomersPage, member_id: str, action: str) -> Fetched | None:
        request = po.removal_request(self.view, member_id)
        if request is None:
            return None
        return await self.submit(po, request, po.spec.row_actions[action].css)


class HttpFetcher(Fetcher):
    strategy = "http"

    @asynccontextmanager
    async def opened(
        self, po: PageObject, url: str, *, allow_error_status: bool = False
    ) -> AsyncIterator[Opened]:
        fetched = await self.rt.transport.get(po.name, url)
        check_status(po, fetched, allow_error_status)
        yield HttpOpened(self.rt, po.view(fetched.url, fetched.text))


class BrowserOpened(Opened):
    def __init__(self, rt: Runtime, page: Page, view: PageView) -> None:
        super().__init__(view)
        self.rt = rt
        self.page = page

    async def submit(self, po: PageObject, form: Form, control_css: str) -> Fetched:
        async with self.page.expect_navigation(wait_until="domcontentloaded"):
            await self.page.locator(control_css).first.click()
        return await self._landed(po)

    async def row_action(self, po: CustomersPage, member_id: str, action: str) -> Fetched | None:
        index = next((i for i, row in enumerate(self.view.rows()) if row.get("member_id") == member_id), None)
        if index is None:
            return None
        if self.view.row_action(member_id, action) is None:
            raise self.view.mismatch(po.spec.row_actions[action])
        control = self.page.locator(po.css("row")).nth(index).locator(po.spec.row_actions[action].css).first
        await control.click()  # a JavaScript "are you sure?" is accepted by the page pool's handler
        await self.page.wait_for_load_state("networkidle")
        return await self._landed(po)

    async def _landed(self, po: PageObject) -> Fetched:
        if self.rt.transport.is_login(self.page.url):
            raise SessionExpired(
                f"page {po.name!r}: sent to the login page on submit", page=po.name, url=self.page.url
            )
        return Fetched(self.page.url, 200, await self.page.content())


class BrowserFetcher(Fetcher):
    strategy = "browser"

    @asynccontextmanager
    async def opened(
        self, po: PageObject, url: str, *, allow_error_status: bool = False
    ) -> AsyncIterator[Opened]:
        async with self.rt.page() as page:
            fetched = await self.rt.transport.goto(po.name, page, url, wait_until="networkidle")
            check_status(po, fetched, allow_error_status)
            yield BrowserOpened(self.rt, page, po.view(fetched.url, fetched.text))


class JsonFetcher:
    """A table page's rows from its JSON endpoint."""

    strategy = "json"

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self._csrf: dict[str, tuple[int, str]] = {}

    async def listing(self, po: TablePage, role: str, index: int, **params: object) -> Listing:
        page_url = self.rt.absolute(po.page_url(role, index, **params))
        api_url = self.rt.absolute(po.api_url(role, index, **params))
        for fresh_token in (False, True):
            headers = await self._headers(po, page_url, refresh=fresh_token)
            fetched = await self.rt.transport.get(po.name, api_url, headers=headers)
            if fetched.status != 403 or not headers:
                break
        check_status(po, fetched, False)
        try:
            data = json.loads(fetched.text)
        except ValueError:
            raise BackendError(
                f"page {po.name!r}: the JSON endpoint did not answer JSON", page=po.name, url=api_url
            ) from None
        return po.listing_from_json(data, index, api_url)

    async def _headers(self, po: TablePage, page_url: str, *, refresh: bool) -> dict[str, str]:
        """The anti-forgery header a single-page layout copies from its HTML into every API call."""
        header = po.spec.csrf_header
        if header is None:
            return {}
        cached = self._csrf.get(po.name)
        generation = self.rt.session.generation
        if refresh or cached is None or cached[0] != generation:
            async with self.rt.http.opened(po, page_url) as opened:
                cached = (generation, opened.view.text("csrf_token"))
            self._csrf[po.name] = cached
        return {header: cached[1]}
