"""Step 5: pull the hub's feed into the local cache of the pooled list.

Each page is saved together with the cursor in one transaction, so a crash resumes where it stopped.
A full pull (first run, or after 410 Gone) tags the entries it sees with a new generation and, once
complete, drops the older ones: entries that vanished while we were away disappear without tombstones.
Until the full pull completes, the old entries stay, so nothing is retracted by mistake half-way.

A hostile or broken hub cannot make a pull endless or the cache unbounded (docs/safety.md, "A hostile or
broken hub"): at most `MAX_PAGES_PER_CYCLE` pages per cycle (the rest comes next cycle, from the saved
cursor), a cursor that does not move forward is a `HubBadAnswer`, and the cache holds at most
`MAX_SHARED_ENTRIES` buyers. Changes the hub client could not read are skipped and listed in the result.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field, replace

from agent.errors import FeedCursorExpired, HubBadAnswer
from agent.hub_client import HubClient
from agent.state import FeedCursor, LocalState

logger = logging.getLogger(__name__)

PAGE_LIMIT = 1000
MAX_PAGES_PER_CYCLE = 200  # 200,000 changes: a big community's first pull; more waits for the next cycle
MAX_SHARED_ENTRIES = 2_000_000  # more buyers than any community reports: past it, stop and say so
MAX_SKIPPED_LISTED = 20


@dataclass(slots=True)
class FeedResult:
    not_modified: bool = False
    changes: int = 0
    full_repull: bool = False
    complete: bool = True  # False when stopped half-way
    skipped: list[str] = field(default_factory=list)  # changes the hub sent that could not be read
    skipped_count: int = 0
    bound: str | None = None  # which bound stopped the pull, when one did


def has_pulled(state: LocalState) -> bool:
    """Whether the cache has ever been filled by a complete pull (policy decisions need one)."""
    return state.feed.load().pulled


def pull_feed(
    hub: HubClient,
    state: LocalState,
    *,
    stop: threading.Event | None = None,
    limit: int = PAGE_LIMIT,
    max_pages: int = MAX_PAGES_PER_CYCLE,
    max_entries: int = MAX_SHARED_ENTRIES,
) -> FeedResult:
    result = FeedResult()
    pages = 0
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
        pages += 1
        if page.has_more and page.next_cursor <= cursor.position:
            raise HubBadAnswer(
                f"the hub's feed says there is more after cursor {cursor.position} but does not move past it"
            )
        if page.next_cursor < cursor.position:
            raise HubBadAnswer(
                f"the hub's feed went back from cursor {cursor.position} to {page.next_cursor}"
            )
        _note_skipped(result, page.skipped)
        latest = page.latest_per_member()
        live = [c.entry for c in latest.values() if c.entry is not None]
        if state.shared.count() + len(live) > max_entries:
            result.complete = False
            result.bound = f"the shared list would hold more than {max_entries} buyers: pull stopped"
            break
        cursor = replace(cursor, position=page.next_cursor, etag=page.etag)
        with state.transaction():
            state.shared.upsert(live, cursor.generation)
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
        if pages >= max_pages:
            result.complete = False
            result.bound = f"read {pages} feed pages, the most one cycle reads: the rest comes next cycle"
            break
    return result


def _note_skipped(result: FeedResult, skipped: list[str]) -> None:
    result.skipped_count += len(skipped)
    room = MAX_SKIPPED_LISTED - len(result.skipped)
    result.skipped += skipped[: max(room, 0)]


def _start_full_pull(state: LocalState, cursor: FeedCursor) -> FeedCursor:
    started = replace(cursor, position=0, etag=None, generation=cursor.generation + 1, full_pull=True)
    with state.transaction():
        state.feed.save(started)
    return started
