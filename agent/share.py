"""share-all: push the store's whole blacklist, minus the agent's own additions, as this seller's reports.

Only entries the agent did not add are the seller's, and only those are pushed (rule 1). The push is a
full snapshot (`PUT /v1/reports`): the hub creates, updates or keeps each report and withdraws the ones no
longer on the blacklist, atomically, so running it twice changes nothing the second time.

Large snapshots: one PUT takes at most 10,000 reports and a body under 1 MiB. Beyond that the snapshot is
sent as upserts in batches of 1,000 (`POST /v1/reports`), then the reports this agent knows it made earlier
and that are gone from the blacklist are withdrawn one by one. This is not atomic, but it never withdraws a
live report, even briefly: a truncated PUT followed by the rest would withdraw and re-create thousands of
reports, and other stores' agents could retract entries in between. The price: a report made from another
installation of the agent (lost local state) and since removed is not withdrawn by a batched snapshot; a
later snapshot under the limits withdraws it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from agent.backend.api import ProgressCallback
from agent.config import Settings
from agent.hub_client import POST_BATCH, HubClient, fits_one_put
from agent.hub_models import PushCounts, Report
from agent.outbox import SNAPSHOT_DONE
from agent.reconcile import reconcile
from agent.reports import ShareReport
from agent.state import LocalState
from agent.state.db import iso, now
from agent.sync import BackendFactory, cycle_lock

logger = logging.getLogger(__name__)


def share_all(
    settings: Settings,
    *,
    backend_factory: BackendFactory,
    hub: HubClient,
    state: LocalState,
    dry_run: bool = False,
    progress: ProgressCallback | None = None,
    stop: threading.Event | None = None,
) -> ShareReport:
    """Read the whole blacklist and push the seller's own entries as a full snapshot."""
    report = ShareReport(dry_run=dry_run)
    with cycle_lock(settings):
        with backend_factory() as backend:
            backend.ensure_session()
            seen = backend.read_blacklist()
        if dry_run:
            with state.dry_run():
                reports = _sellers_reports(state, seen, report)
                reported = state.reported_ids()
            mine = {r.member_id for r in reports}
            report.pushed = len(mine - reported)
            report.unchanged = len(mine & reported)
            report.withdrawn = len(reported - mine)
            report.batched = not fits_one_put(reports)
            return report
        reports = _sellers_reports(state, seen, report)
        if fits_one_put(reports):
            counts = hub.put_snapshot(reports)
            if progress:
                progress(len(reports), len(reports))
        else:
            report.batched = True
            counts = push_large_snapshot(hub, state, reports, progress=progress, stop=stop)
        with state.transaction():
            state.replace_reported(reports)
            state.clear_outbox()  # the snapshot carried every queued wish
            state.set_meta(SNAPSHOT_DONE, iso(now()))
        state.audit("share_all", "*", None, {"reports": len(reports), **_counts(counts)})
    report.pushed = counts.created + counts.updated
    report.unchanged, report.withdrawn = counts.unchanged, counts.withdrawn
    logger.info(
        "share-all: %d pushed, %d unchanged, %d withdrawn", report.pushed, report.unchanged, report.withdrawn
    )
    return report


def _sellers_reports(state: LocalState, seen: list[Any], report: ShareReport) -> list[Report]:
    reconcile(state, seen)
    known = state.known_entries()
    # One report per buyer (the hub refuses a batch naming a member id twice), in the backend's order.
    unique = {e.member_id: e for e in reversed(seen)}
    reports = [
        Report(e.member_id, e.name, reported_at=e.blacklisted_at)
        for e in reversed(unique.values())
        if known.get(e.member_id) is not None and known[e.member_id].origin == "manual"
    ]
    report.blacklist_size = len(unique)
    report.sellers_entries = len(reports)
    report.agent_entries_kept_private = len(unique) - len(reports)
    return reports


def push_large_snapshot(
    hub: HubClient,
    state: LocalState,
    reports: list[Report],
    *,
    progress: ProgressCallback | None = None,
    stop: threading.Event | None = None,
) -> PushCounts:
    """Upsert in batches, then withdraw what this agent reported before and is gone (see module doc)."""
    gone = sorted(state.reported_ids() - {r.member_id for r in reports})
    total = len(reports) + len(gone)
    counts = PushCounts()
    done = 0
    tick: Callable[[int], None] = (lambda n: progress(n, total)) if progress else (lambda n: None)
    for start in range(0, len(reports), POST_BATCH):
        batch = reports[start : start + POST_BATCH]
        counts += hub.push_reports(batch)
        with state.transaction():
            state.mark_reported(batch)
        done += len(batch)
        tick(done)
    for member_id in gone:
        if stop is not None and stop.is_set():
            break
        if hub.withdraw(member_id):
            counts += PushCounts(withdrawn=1)
        with state.transaction():
            state.mark_unreported([member_id])
            state.outbox_delivered([member_id])
        done += 1
        tick(done)
    return counts


def _counts(counts: PushCounts) -> dict[str, int]:
    return {
        "created": counts.created,
        "updated": counts.updated,
        "unchanged": counts.unchanged,
        "withdrawn": counts.withdrawn,
    }
