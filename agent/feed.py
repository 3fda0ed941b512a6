"""Step 5: pull the hub's feed into the local cache of the pooled list.

Each page is saved together with the cursor in one transaction, so a crash resumes where it stopped.
A full pull (first run, or after 410 Gone) tags the entries it sees with a new generation and, once
complete, drops the older ones: entries that vanished while we were away disappear without tombstones.
Until the full pull completes, the old entries stay, so nothing is retracted by mistake half-way.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from agent.hub_client import FeedCursorExpired, HubClient
from agent.state import LocalState

logger = logging.getLogger(__name__)

PAGE_LIMIT = 1000


@dataclass(slots=True)
class FeedResult:
    not_modified: bool = False
    changes: int = 0
    full_repull: bool = False
    complete: bool = True  # False when stopped half-way


def has_pulled(state: LocalState) -> bool:
    """Whether the cache has ever been filled by a complete pull (policy decisions need one)."""
    return state.get_meta("feed_pulled_at") is not None


def pull_feed(
    hub: HubClient, state: LocalState, *, stop: threading.Event | None = None, limit: int = PAGE_LIMIT
) -> FeedResult:
    result = FeedResult()
    cursor = int(state.get_meta("feed_cursor") or 0)
    etag = state.get_meta("feed_etag")
    generation = int(state.get_meta("feed_generation") or 0)
    full = state.get_meta("feed_full_pull") is not None
    if cursor == 0 and not full:
        generation, full = _start_full_pull(state, generation)
        etag = None
    expired_once = False
    while True:
        try:
            page = hub.feed(cursor, etag=etag, limit=limit)
        except FeedCursorExpired:
            if expired_once:
                raise
            expired_once = True
            logger.info("feed cursor %d expired: re-pulling the whole shared list", cursor)
            generation, full = _start_full_pull(state, generation)
            cursor, etag, result.full_repull = 0, None, True
            continue
        etag = None  # only the first request of a pull is conditional
        if page is None:
            result.not_modified = True
            break
        latest = page.latest_per_member()
        with state.transaction():
            state.upsert_shared([c.entry for c in latest.values() if c.entry is not None], generation)
            state.delete_shared([m for m, c in latest.items() if c.entry is None])
            state.set_meta("feed_cursor", str(page.next_cursor))
            state.set_meta("feed_etag", page.etag)
            if not page.has_more:
                if full:
                    dropped = state.prune_shared(generation)
                    state.set_meta("feed_full_pull", None)
                    logger.info("full pull complete; %d stale shared entries dropped", dropped)
                state.set_meta("feed_pulled_at", "1")
        result.changes += len(page.changes)
        cursor = page.next_cursor
        if not page.has_more:
            break
        if stop is not None and stop.is_set():
            result.complete = False
            break
    return result


def _start_full_pull(state: LocalState, generation: int) -> tuple[int, bool]:
    generation += 1
    with state.transaction():
        state.set_meta("feed_generation", str(generation))
        state.set_meta("feed_full_pull", "1")
        state.set_meta("feed_cursor", "0")
        state.set_meta("feed_etag", None)
    return generation, True
