"""Feed pages as served, shared by the clients that ask for the same one.

A page is a function of (cursor, limit) and the hub's counters (last sequence number, horizon): the ETag
rests on the same fact (see `hub.feed`). When a change wakes the waiting clients they all hold the same
cursor (the previous last sequence number) and ask for the same page at the same moment; so do agents
re-pulling after a 410. `PageCache` keeps recent pages by that key, and `PageCache.load` makes concurrent
requests for a page that is not cached yet share one database read (each waiting request costs a future,
not a query and not a thread).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from hub.feed import CursorGone, FeedState

MAX_BYTES = 32 * 1024 * 1024
MAX_PAGE_BYTES = 2 * 1024 * 1024  # a full 5,000-entry page is about 1 MB

PageKey = tuple[int, int, int, int]  # cursor, limit, last_seq, horizon_seq


@dataclass(frozen=True)
class ServedPage:
    """A page read in one transaction: the hub's state then, the body, and its ETag (or a 410)."""

    state: FeedState
    body: bytes
    etag: str
    gone: CursorGone | None = None


def page_key(cursor: int, limit: int, state: FeedState) -> PageKey:
    return (cursor, limit, state.last_seq, state.horizon_seq)


class PageCache:
    def __init__(self, *, max_bytes: int = MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self._pages: dict[PageKey, ServedPage] = {}
        self._bytes = 0
        self._loading: dict[PageKey, asyncio.Future[ServedPage]] = {}

    def get(self, key: PageKey) -> ServedPage | None:
        return self._pages.get(key)

    def put(self, key: PageKey, page: ServedPage) -> None:
        if page.gone is not None or len(page.body) > MAX_PAGE_BYTES or key in self._pages:
            return
        while self._pages and self._bytes + len(page.body) > self.max_bytes:
            oldest = next(iter(self._pages))
            self._bytes -= len(self._pages.pop(oldest).body)
        self._pages[key] = page
        self._bytes += len(page.body)

    async def load(self, key: PageKey, read: Callable[[], Awaitable[ServedPage]]) -> ServedPage:
        """The page under `key`: cached, being read for another request (shared), or read now."""
        page = self._pages.get(key)
        if page is not None:
            return page
        loop = asyncio.get_running_loop()
        pending = self._loading.get(key)
        if pending is not None and pending.get_loop() is loop:
            try:
                return await asyncio.shield(pending)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise
                # The request that was reading was cancelled (shutdown); read for this one.
        future: asyncio.Future[ServedPage] = loop.create_future()
        self._loading[key] = future
        try:
            page = await read()
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: a failure nobody else waited for is not "never retrieved"
            raise
        finally:
            if self._loading.get(key) is future:
                del self._loading[key]
        future.set_result(page)
        self.put(key, page)
        self.put(page_key(key[0], key[1], page.state), page)
        return page
