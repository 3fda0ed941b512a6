"""Every request the driver makes, with the same manners: budgeted, bounded, paced, retried, checked.

Requests go through `context.request` (same cookies as the browser, no page, no rendering) or through a
browser page's `goto`. Both share one policy, for the life of the transport (one cycle):
- a budget: at most `backend.request_budget` requests, retries included; the next one raises
  `BudgetExhausted`, which the sync engine turns into a partial cycle that the next cycle carries on;
- at most `browser.concurrency` in flight, and at least `backend.pacing_ms` between two starts, with up to
  `PACING_JITTER` of random jitter on top (every start, and the gap it imposed on the next, is recorded in
  `starts` and `gaps`, so the spacing can be checked from the transport's own schedule);
- 5xx, timeouts and connection errors retried with exponential backoff and jitter; a 429 pauses *every*
  worker for its `Retry-After`; after `backend.max_retries` retries, `BackendUnavailable`;
- and a slowdown that holds: each 429 or 5xx doubles a minimum gap between starts (from
  `SLOWDOWN_BASE_SECONDS` up to `SLOWDOWN_CAP_SECONDS`) for the rest of the cycle, so a struggling site is
  not hit at full speed again as soon as one request gets through.
A response that lands on the login page (or a JSON 401) raises `SessionExpired`, which the driver answers by
logging in again.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from playwright.async_api import APIResponse, BrowserContext, Page, Response
from playwright.async_api import Error as PlaywrightError

from agent.backend.artifacts import ArtifactStore
from agent.backend.selectors import SiteSelectors
from agent.config import Settings
from agent.errors import BackendUnavailable, BudgetExhausted, SessionExpired

logger = logging.getLogger(__name__)

BACKOFF_BASE_SECONDS = 0.25
BACKOFF_CAP_SECONDS = 8.0
RETRY_AFTER_CAP_SECONDS = 120.0
SLOWDOWN_BASE_SECONDS = 0.1
SLOWDOWN_CAP_SECONDS = 1.0  # at worst one request a second, for the rest of the cycle
PACING_JITTER = 0.5  # each gap is pacing × (1 + up to this much)


@dataclass(frozen=True, slots=True)
class Fetched:
    """A response body and where it ended up after redirects."""

    url: str
    status: int
    text: str


class Transport:
    def __init__(
        self, context: BrowserContext, settings: Settings, site: SiteSelectors, artifacts: ArtifactStore
    ) -> None:
        self.context = context
        self.site = site
        self.artifacts = artifacts
        self.base_url = settings.backend.base_url.rstrip("/")
        self.timeout_ms = settings.backend.timeout_seconds * 1000
        self.max_retries = settings.backend.max_retries
        self.pacing = settings.backend.pacing_ms / 1000
        self.slots = asyncio.Semaphore(settings.browser.concurrency)
        self._pace_lock = asyncio.Lock()
        self._next_start = 0.0
        self._login_path = urlsplit(self.absolute(site.url("login"))).path
        self.requests = 0
        self.budget = settings.backend.request_budget
        self.spent = 0  # requests allowed so far (counted before they wait for pacing)
        self.slowdown = 0.0  # minimum gap between starts after a 429/5xx, held for the rest of the cycle
        self.starts: list[float] = []  # monotonic start time of every request, in order
        self.gaps: list[float] = []  # the gap each start imposed on the next one
        self._pending: set[asyncio.Future[None]] = set()

    def _background(self, job: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(job)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def drain(self) -> None:
        """Wait for background clean-up (before the context closes)."""
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)

    def absolute(self, url: str) -> str:
        if url.startswith(("http://", "https://")):
            return url
        return f"{self.base_url}/{url.lstrip('/')}"

    def url(self, template_name: str, /, **params: object) -> str:
        return self.absolute(self.site.url(template_name, **params))

    def is_login(self, url: str) -> bool:
        return urlsplit(url).path == self._login_path

    async def get(self, page: str, url: str, *, headers: dict[str, str] | None = None) -> Fetched:
        return await self._fetch(
            page, url, lambda: self.context.request.get(url, timeout=self.timeout_ms, headers=headers)
        )

    async def post_form(self, page: str, url: str, fields: dict[str, str]) -> Fetched:
        form: dict[str, str | float | bool] = dict(fields)
        return await self._fetch(
            page, url, lambda: self.context.request.post(url, form=form, timeout=self.timeout_ms)
        )

    async def goto(
        self, page_name: str, page: Page, url: str, *, wait_until: str = "domcontentloaded"
    ) -> Fetched:
        """Navigate a browser page with the same retry policy; returns the rendered HTML."""

        async def attempt() -> Response | None:
            return await page.goto(url, wait_until=wait_until, timeout=self.timeout_ms)  # type: ignore[arg-type]

        status = await self._retrying(page_name, url, attempt)
        if self.is_login(page.url) and page_name != "login":
            raise SessionExpired(
                f"page {page_name!r}: the backend sent us to the login page", page=page_name, url=url
            )
        return Fetched(page.url, status, await page.content())

    async def send_in_browser(
        self, page_name: str, url: str, attempt: Callable[[], Awaitable[Response | None]]
    ) -> int:
        """Run a browser action that navigates (a form sent by a click) under the same budget, pacing
        and retry policy as a fetch: a 429 or 5xx answer is waited out and the action tried again."""
        return await self._retrying(page_name, url, attempt)

    async def _fetch(self, page: str, url: str, send: Callable[[], Awaitable[APIResponse]]) -> Fetched:
        holder: dict[str, Fetched] = {}

        async def attempt() -> APIResponse:
            response = await send()
            try:
                holder["last"] = Fetched(response.url, response.status, await response.text())
            finally:
                # Release the body (a long scrape would otherwise keep every page in memory), off the
                # critical path: it is one more round trip to Playwright's driver.
                self._background(response.dispose())
            return response

        await self._retrying(page, url, attempt, holder)
        fetched = holder["last"]
        if fetched.status == 401 or (self.is_login(fetched.url) and page != "login"):
            raise SessionExpired(f"page {page!r}: the session is no longer valid", page=page, url=url)
        return fetched

    async def _retrying(
        self,
        page: str,
        url: str,
        attempt: Callable[[], Awaitable[APIResponse | Response | None]],
        holder: dict[str, Fetched] | None = None,
    ) -> int:
        problem = ""
        for tries in range(self.max_retries + 1):
            self._spend(page, url)
            await self._pace()
            delay = _backoff(tries)
            try:
                async with self.slots:
                    self.requests += 1
                    response = await attempt()
            except PlaywrightError as exc:
                if "net::ERR_ABORTED" in str(exc) or "closed" in str(exc).lower():
                    raise
                problem = str(exc).splitlines()[0]
            else:
                status = response.status if response is not None else 200
                if status == 429:
                    retry_after = _retry_after(response.headers.get("retry-after") if response else None)
                    problem = f"HTTP 429, Retry-After {retry_after:g} s"
                    delay = retry_after
                    self._pause_everyone(retry_after)
                    self._slow_down(problem)
                elif status >= 500:
                    problem = f"HTTP {status}"
                    self._slow_down(problem)
                else:
                    return status
            if tries < self.max_retries:
                logger.warning(
                    "%s %s: %s; retry %d/%d in %.2f s", page, url, problem, tries + 1, self.max_retries, delay
                )
                await asyncio.sleep(delay)
        error = BackendUnavailable(
            f"page {page!r} kept failing ({problem}) after {self.max_retries + 1} attempts",
            page=page,
            url=url,
        )
        last = holder.get("last") if holder else None
        await self.artifacts.attach(error, html=last.text if last else None)
        raise error

    def new_cycle(self) -> None:
        """A fresh budget and no slowdown, for a backend kept open from one cycle to the next."""
        self.spent = 0
        self.slowdown = 0.0
        self.starts.clear()
        self.gaps.clear()

    def _spend(self, page: str, url: str) -> None:
        if self.spent >= self.budget:
            raise BudgetExhausted(
                f"this cycle's budget of {self.budget} requests to the seller backend is used up "
                f"(backend.request_budget), at page {page!r}; the rest waits for the next cycle",
                budget=self.budget,
                page=page,
                url=url,
            )
        self.spent += 1

    def _slow_down(self, problem: str) -> None:
        before = self.slowdown
        self.slowdown = min(SLOWDOWN_CAP_SECONDS, max(SLOWDOWN_BASE_SECONDS, self.slowdown * 2))
        if self.slowdown != before:
            logger.warning(
                "the backend answered %s: at most one request every %.2f s for the rest of this cycle",
                problem,
                self.slowdown,
            )

    def _pause_everyone(self, seconds: float) -> None:
        self._next_start = max(self._next_start, time.monotonic() + seconds)

    def gap(self) -> float:
        """The gap to keep before the next start: the pacing (with jitter) or the slowdown, the larger."""
        paced = self.pacing * (1 + random.uniform(0, PACING_JITTER)) if self.pacing else 0.0
        return max(paced, self.slowdown)

    async def _pace(self) -> None:
        async with self._pace_lock:
            now = time.monotonic()
            while now < self._next_start:  # a loop: a sleep may end a hair early
                await asyncio.sleep(self._next_start - now)
                now = time.monotonic()
            gap = self.gap()
            self.starts.append(now)
            self.gaps.append(gap)
            self._next_start = max(self._next_start, now + gap)


def _backoff(tries: int) -> float:
    """Exponential backoff with full jitter around the nominal delay (0.5x to 1.5x)."""
    nominal: float = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2.0**tries)
    return nominal * (0.5 + random.random())


def _retry_after(value: str | None) -> float:
    try:
        seconds = float(value) if value is not None else 1.0
    except ValueError:
        seconds = 1.0  # an HTTP-date: rare for 429, and one second is a polite guess
    return float(min(max(seconds, 0.0), RETRY_AFTER_CAP_SECONDS))
