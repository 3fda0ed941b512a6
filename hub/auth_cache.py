"""Who a token belongs to, remembered by this process so a feed poll needs no database query.

Entries are keyed by the token's SHA-256 (no token is kept in clear) and tagged with the sellers' version
(`hub_state.sellers_version`) read in the same SELECT as the seller. Every write that changes a seller
(disable, enable, token rotation, standing...) bumps that version, and `hub.notify.FeedNotifier` hears of it
(at once in this process and on PostgreSQL; within about a second from another process on SQLite): from
then on no older entry is served, so a disabled seller is refused and an old token stops working as soon as
the process knows. An entry is stored only when the version it was read under is the one the notifier holds,
so a lookup that raced a seller change cannot bring a stale identity back. Unknown tokens are not cached.
"""

from __future__ import annotations

import threading

from sqlalchemy import select

from hub.db import Database
from hub.models import HubState, Seller
from hub.notify import FeedNotifier
from hub.sellers import Identity, hash_token

MAX_ENTRIES = 200_000  # far above any hub's number of sellers; a safety bound, not a tuning knob


class TokenCache:
    def __init__(self, db: Database, notifier: FeedNotifier, *, max_entries: int = MAX_ENTRIES) -> None:
        self.db = db
        self.notifier = notifier
        self.max_entries = max_entries
        self._entries: dict[str, Identity] = {}
        self._version = notifier.counters.sellers_version
        self._lock = threading.Lock()

    def _current(self) -> int:
        """The sellers' version now, dropping every entry read under an older one."""
        version = self.notifier.counters.sellers_version
        if version != self._version:
            with self._lock:
                if version != self._version:
                    self._entries = {}
                    self._version = version
        return version

    def cached(self, token: str) -> Identity | None:
        """The identity of `token` if this process knows it (no I/O: safe on the event loop)."""
        self._current()
        return self._entries.get(hash_token(token))

    def lookup(self, token: str) -> Identity | None:
        """The identity of `token`, from the cache or else the database (blocking: run it in a thread)."""
        digest = hash_token(token)
        self._current()
        found = self._entries.get(digest)
        if found is not None:
            return found
        stmt = (
            select(Seller.id, Seller.name, Seller.store_id, Seller.enabled, HubState.sellers_version)
            .join(HubState, HubState.id == 1)
            .where(Seller.token_hash == digest)
        )
        with self.db.read() as session:
            row = session.execute(stmt).one_or_none()
        if row is None:
            return None
        identity = Identity(row.id, row.name, row.store_id, bool(row.enabled))
        with self._lock:
            if int(row.sellers_version) == self._version == self.notifier.counters.sellers_version:
                if len(self._entries) >= self.max_entries:
                    self._entries = {}
                self._entries[digest] = identity
        return identity

    def __len__(self) -> int:
        return len(self._entries)
