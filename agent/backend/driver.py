"""`open_backend`: the Playwright implementation of `agent.backend.api.Backend`.

The CLI and the sync engine call exactly `open_backend(settings, password=..., otp_prompt=...)` and use the
result as a context manager. Inside, an async `Runtime` runs on a private event-loop thread; this class is the
synchronous face of it and hands out only plain models from `agent.models`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar

from playwright.async_api import Error as PlaywrightError

from agent.backend.api import Backend, ProgressCallback
from agent.backend.loop import LoopThread
from agent.backend.operations import Operations
from agent.backend.runtime import Runtime
from agent.backend.selectors import SiteSelectors, load_selectors
from agent.config import Settings
from agent.errors import BackendError
from agent.models import BlacklistEntry, BlacklistResult, Customer, Order, RemovalOutcome

logger = logging.getLogger(__name__)
T = TypeVar("T")


class PlaywrightBackend:
    """A logged-in (or about to be) seller backend for one store."""

    def __init__(self, loop: LoopThread, runtime: Runtime) -> None:
        self._loop = loop
        self._rt = runtime
        self._ops = Operations(runtime)
        self._closed = False

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        with browser_errors():
            return self._loop.run(coro)

    def _iterate(self, agen: AsyncIterator[T]) -> Iterator[T]:
        with browser_errors():
            yield from self._loop.iterate(agen)

    @property
    def site(self) -> SiteSelectors:
        return self._rt.site

    @property
    def logins(self) -> int:
        """How many times this run logged in (0 when the saved session was reused)."""
        return self._rt.session.logins

    @property
    def requests(self) -> int:
        """Requests and navigations sent to the backend so far (retries included)."""
        return self._rt.transport.requests

    def new_cycle(self) -> None:
        """A new cycle on a backend kept open: a fresh request budget (`backend.request_budget`)."""
        self._rt.transport.new_cycle()

    @property
    def browser_launches(self) -> int:
        """How many browsers this run started (0 when every page it read went over http/json)."""
        return self._rt.contexts.launches

    @property
    def pagination_stops(self) -> list[str]:
        """Table reads that stopped other than at the list's own end, each naming its page."""
        return [str(stop) for stop in self._rt.stops]

    def ensure_session(self) -> None:
        self._run(self._rt.ensure_session())

    def read_blacklist(self) -> list[BlacklistEntry]:
        return self._run(self._ops.blacklist())

    def read_blacklist_head(self) -> list[BlacklistEntry]:
        return self._run(self._blacklist_head())

    async def _blacklist_head(self) -> list[BlacklistEntry]:
        # The listing yields its first page before it reads ahead: closing it then costs one request.
        pages = self._rt.paginate(self._rt.customers, "blacklisted_url")
        try:
            async for listing in pages:
                return self._rt.customers.entries(listing)
            return []
        finally:
            await pages.aclose()  # type: ignore[attr-defined]

    def read_customers(self, *, progress: ProgressCallback | None = None) -> Iterator[Customer]:
        done = 0
        for chunk, total in self._iterate(self._ops.customers()):
            yield from chunk
            done += len(chunk)
            if progress is not None:
                progress(done, total)

    def read_orders(self, *, newer_than: datetime | None = None) -> list[Order]:
        return self._run(self._ops.orders(newer_than))

    def read_buyer(self, member_id: str) -> tuple[str, str]:
        """(MemberId, Name) as the buyer information page shows them."""
        return self._run(self._ops.buyer(member_id))

    def blacklist_by_link(self, member_id: str, name: str) -> BlacklistResult:
        return self._run(self._ops.blacklist_by_link(member_id, name))

    def blacklist_many(
        self, buyers: Iterable[tuple[str, str]], *, progress: ProgressCallback | None = None
    ) -> Iterator[BlacklistResult]:
        batch = list(buyers)
        for done, result in enumerate(self._iterate(self._ops.blacklist_many(batch)), start=1):
            if progress is not None:
                progress(done, len(batch))
            yield result

    def blacklist_from_order(self, order_id: str) -> BlacklistResult:
        return self._run(self._ops.blacklist_from_order(order_id))

    def remove_from_blacklist(self, member_id: str) -> RemovalOutcome:
        return self._run(self._ops.remove(member_id))

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._run(self._rt.close())
        finally:
            self._loop.close()

    def __enter__(self) -> PlaywrightBackend:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


@contextmanager
def browser_errors() -> Iterator[None]:
    """Playwright's own errors (a crashed browser, a click that timed out) leave as BackendError."""
    try:
        yield
    except PlaywrightError as exc:
        first_line = (str(exc).splitlines() or ["unknown error"])[0]
        raise BackendError(f"browser error: {first_line}") from exc


def open_backend(
    settings: Settings,
    *,
    password: str,
    otp_prompt: Callable[[], str] | None = None,
    headless: bool | None = None,
    human: bool = False,
) -> Backend:
    """Open `settings`' backend; the session is reused or renewed on first use (the browser on demand).

    `otp_prompt` (interactive login only) is called when the backend asks for a one-time code; without it
    such a login raises `LoginNeedsHuman`. `headless=None` follows `browser.headless`. `human=True`: a
    person just typed `password`, so it is tried even when a refused login is on record (see
    agent.backend.login_guard).
    """
    return open_playwright_backend(
        settings, password=password, otp_prompt=otp_prompt, headless=headless, human=human
    )


def open_playwright_backend(
    settings: Settings,
    *,
    password: str,
    otp_prompt: Callable[[], str] | None = None,
    headless: bool | None = None,
    human: bool = False,
) -> PlaywrightBackend:
    """`open_backend` with the concrete type (tests and benchmarks read its counters)."""
    site = load_selectors(settings.backend.selectors, settings.backend.selectors_override)
    loop = LoopThread()
    try:
        with browser_errors():
            runtime = loop.run(
                Runtime.start(
                    settings,
                    site,
                    password=password,
                    otp_prompt=otp_prompt,
                    headless=settings.browser.headless if headless is None else headless,
                    human=human,
                )
            )
    except BaseException:
        loop.close()
        raise
    logger.debug("backend driver ready: %s layout %s", site.name, site.layout)
    return PlaywrightBackend(loop, runtime)
