"""The interface the rest of the agent uses to talk to a seller backend.

The sync engine and the CLI depend on this Protocol only; `agent.backend.driver.PlaywrightBackend`
implements it with Playwright. Everything crosses it as plain models from `agent.models`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Protocol

from agent.models import BlacklistEntry, BlacklistResult, Customer, Order, RemovalOutcome

ProgressCallback = Callable[[int, int | None], None]
"""Called with (done, total-or-None) as a long operation advances."""


class Backend(Protocol):
    """A logged-in seller backend for one store. Use as a context manager (`with open_backend(...) as b`)."""

    def ensure_session(self) -> None:
        """Reuse the saved session, renew it by logging in, or raise LoginNeedsHuman / LoginFailed."""

    def read_blacklist(self) -> list[BlacklistEntry]:
        """The store's whole blacklist (most recently blacklisted first, as the backend lists it)."""

    def read_blacklist_head(self) -> list[BlacklistEntry]:
        """The first page of the blacklist only (the newest entries): a cheap look for new ones."""

    def read_customers(self, *, progress: ProgressCallback | None = None) -> Iterator[Customer]:
        """Every customer the store has traded with."""

    def read_orders(self, *, newer_than: datetime | None = None) -> list[Order]:
        """Orders created after `newer_than` (all when None), newest first; stops paginating once older."""

    def blacklist_by_link(self, member_id: str, name: str) -> BlacklistResult:
        """Blacklist a buyer through the MemberId/Name link and report what the backend said."""

    def blacklist_many(
        self, buyers: Iterable[tuple[str, str]], *, progress: ProgressCallback | None = None
    ) -> Iterator[BlacklistResult]:
        """Blacklist many buyers by link, concurrently; yields each result as soon as it is known."""

    def blacklist_from_order(self, order_id: str) -> BlacklistResult:
        """Blacklist the buyer of an order from the order's detail page."""

    def remove_from_blacklist(self, member_id: str) -> RemovalOutcome:
        """Remove a buyer from the store's blacklist."""

    def close(self) -> None:
        """Close pages, the context and the browser; save the session."""

    def __enter__(self) -> Backend: ...

    def __exit__(self, *exc_info: object) -> None: ...
