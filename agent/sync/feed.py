"""Step 5: pull the hub's feed into the local cache of the pooled list.

Each page is saved together with the cursor in one transaction, so a crash resumes where it stopped.
A full pull (first run, or after 410 Gone) tags the entries it sees with a new generation and, once
complete, drops the older ones: entries that vanished while we were away disappear without tombstones.
Until the full pull completes, the old entries stay, so nothing is retracted by mistake half-way.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, replace

from agent.errors import FeedCursorExpired
from agent.hub_client import HubClient
from agent.state import FeedCursor, LocalState

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
    return state.feed.load().pulled


def pull_feed(
    hub: HubClient, state: LocalState, *, stop: threading.Event | None = None, limit: int = PAGE_LIMIT
) -> FeedResult:
    result = FeedResult()
    cursor = state.feed.load()
    if cursor.position == 0 and not cursor.full_pull:
        cursor = _start_full_pull(state, cursor)
    etag = cursor.etag
    expired_once = False
    while True:
        try:
            page = hub.feed(cursor.position, etag=etag, limit=limit)
        except FeedCursorExpired:
            if expired_once:
                raise
            expired_once = True
            logger.info("feed cursor %d expired: re-pulling the whole shared list", cursor.position)
            cursor = _start_full_pull(state, cursor)
            etag, result.full_repull = None, True
            continue
        etag = None  # only the first request of a pull is conditional
        if page is None:
            result.not_modified = True
            break
        latest = page.latest_per_member()
        cursor = replace(cursor, position=page.next_cursor, etag=page.etag)
        with state.transaction():
            state.shared.upsert([c.entry for c in latest.values() if c.entry is not None], cursor.generation)
            state.shared.delete([m for m, c in latest.items() if c.entry is None])
            if not page.has_more:
                if cursor.full_pull:
                    dropped = state.shared.prune(cursor.generation)
                    logger.info("full pull complete; %d stale shared entries dropped", dropped)
                cursor = replace(cursor, full_pull=False, pulled=True)
            state.feed.save(cursor)
        result.changes += len(page.changes)
        if not page.has_more:
            break
        if stop is not None and stop.is_set():
            result.complete = False
            break
    return result


def _start_full_pull(state: LocalState, cursor: FeedCursor) -> FeedCursor:
    started = replace(cursor, position=0, etag=None, generation=cursor.generation + 1, full_pull=True)
    with state.transaction():
        state.feed.save(started)
    return started
