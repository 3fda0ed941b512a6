"""Run the async Playwright driver behind a synchronous API.

The `Backend` protocol is synchronous (the CLI and the scheduler's threads call it), but parallel pages and
requests need asyncio. The driver owns one event loop in a private thread; calls are submitted to it and
waited for, and async iterators are bridged to plain iterators so results stream out as they arrive. This
works from any thread, including one that already runs its own event loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator
from typing import Any, TypeVar

T = TypeVar("T")


class LoopThread:
    """An event loop running in a daemon thread until `close()`."""

    def __init__(self, name: str = "blacklist-agent-backend") -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        if threading.current_thread() is self._thread:
            raise RuntimeError("the backend cannot be called from inside its own event loop")
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def iterate(self, agen: AsyncIterator[T]) -> Iterator[T]:
        """Pull items from `agen` one at a time; abandoning the iterator closes the generator."""
        try:
            while True:
                try:
                    yield self.run(_next(agen))
                except StopAsyncIteration:
                    return
        finally:
            aclose = getattr(agen, "aclose", None)
            if aclose is not None and self.loop.is_running():
                self.run(aclose())

    def close(self) -> None:
        if self.loop.is_running():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)
        if not self.loop.is_running():
            self.loop.close()


async def _next(agen: AsyncIterator[T]) -> T:
    return await anext(agen)


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run one coroutine to completion on a fresh private loop."""
    thread = LoopThread("blacklist-agent-oneshot")
    try:
        return thread.run(coro)
    finally:
        thread.close()
