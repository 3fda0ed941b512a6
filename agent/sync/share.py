"""share-all: push the store's whole blacklist, minus the agent's own additions, as this seller's reports.

Only entries the agent did not add are the seller's, and only those are pushed (docs/safety.md rule 1).
The push is a full snapshot (`PUT /v1/reports`): the hub creates, updates or keeps each report and
withdraws the ones no longer on the blacklist, atomically, so running it twice changes nothing the second
time.

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
from typing import Any

from agent.errors import BudgetExhausted
from agent.hub_client import POST_BATCH, HubClient, fits_one_put
from agent.hub_models import PushCounts, Report, valid_member_id
from agent.state import LocalState
from agent.sync.cycle_result import ShareReport
from agent.sync.engine import BackendFactory
from agent.sync.progress import Progress, ProgressSink
from agent.sync.reasons import DEFAULT_REASON, own_reason
from agent.sync.reconcile import reconcile
from agent.sync.record import restore_record
from agent.wording import plural

logger = logging.getLogger(__name__)


def share_all(
    *,
    backend_factory: BackendFactory,
    hub: HubClient,
    state: LocalState,
    dry_run: bool = False,
    progress: ProgressSink | None = None,
    stop: threading.Event | None = None,
    default_reason: str = DEFAULT_REASON,
) -> ShareReport:
    """Read the whole blacklist and push the seller's own entries as a full snapshot.

    The caller holds the cycle lock (`AgentSession` takes it).
    """
    report = ShareReport(dry_run=dry_run)
    tell = progress or (lambda _: None)
    with backend_factory() as backend:
        tell(Progress("login", 0, None, "logging in to the store"))
        backend.ensure_session()
        tell(Progress("blacklist", 0, None, "reading the store's blacklist"))
        try:
            seen = backend.read_blacklist()
        except BudgetExhausted as exc:
            # Unlike a cycle, share-all has no next time to carry on from: say what to change.
            raise BudgetExhausted(
                f"share-all reads the whole blacklist before it pushes anything, and reading it needs more "
                f"than backend.request_budget = {exc.budget} requests; nothing was pushed: raise "
                "request_budget in the [backend] section of the config and run share-all again",
                budget=exc.budget,
                page=exc.page,
                url=exc.url,
            ) from exc
    tell(Progress("blacklist", len(seen), len(seen), "read the store's blacklist"))
    if dry_run:
        with state.dry_run():
            _restore_first(hub, state, report)
            reports = _sellers_reports(state, seen, report, default_reason)
            reported = state.reported.ids()
        mine = {r.member_id for r in reports}
        report.pushed = len(mine - reported)
        report.unchanged = len(mine & reported)
        report.withdrawn = len(reported - mine)
        report.batched = not fits_one_put(reports)
        report.to_push = [r.member_id for r in reports if r.member_id not in reported]
        report.names = {r.member_id: r.name for r in reports if r.member_id not in reported}
        report.to_withdraw = sorted(reported - mine)
        return report
    _restore_first(hub, state, report)
    reports = _sellers_reports(state, seen, report, default_reason)
    if fits_one_put(reports):
        tell(Progress("share", 0, len(reports), "pushing the snapshot"))
        counts = hub.put_snapshot(reports)
        tell(Progress("share", len(reports), len(reports), "pushed the snapshot"))
    else:
        report.batched = True
        counts = push_large_snapshot(hub, state, reports, progress=tell, stop=stop)
    with state.transaction():
        state.reported.replace(reports)
        state.outbox.clear()  # the snapshot carried every queued wish
        state.reported.snapshot_pushed()
    state.audit.record("share_all", "*", None, {"reports": len(reports), **_counts(counts)})
    report.pushed = counts.created + counts.updated
    report.unchanged, report.withdrawn = counts.unchanged, counts.withdrawn
    logger.info(
        "share-all: %d pushed, %d unchanged, %d withdrawn", report.pushed, report.unchanged, report.withdrawn
    )
    return report


def _restore_first(hub: HubClient, state: LocalState, report: ShareReport) -> None:
    """On a new data dir, the hub's record says which entries are the agent's (docs/safety.md rule 10):
    they must not go out as the seller's reports. A HubError here ends share-all before any push."""
    if state.record.restored:
        return
    restored = restore_record(hub, state)
    if restored.automatic or restored.allowlisted:
        report.notes.append(restored.describe())


def _sellers_reports(
    state: LocalState, seen: list[Any], report: ShareReport, reason: str = DEFAULT_REASON
) -> list[Report]:
    reconcile(state, seen, reason=reason)
    known = state.blacklist.known()
    # One report per buyer (the hub refuses a batch naming a member id twice), in the backend's order.
    unique = {e.member_id: e for e in reversed(seen)}
    mine = [
        e
        for e in reversed(unique.values())
        if known.get(e.member_id) is not None and known[e.member_id].origin == "manual"
    ]
    # An id the hub can never accept would make it refuse the whole snapshot: left out, and said so.
    reports = [
        Report(e.member_id, e.name, own_reason(state, e.member_id), e.blacklisted_at)
        for e in mine
        if valid_member_id(e.member_id)
    ]
    if len(reports) < len(mine):
        report.notes.append(
            f"{plural(len(mine) - len(reports), 'entry', 'entries')} with a member id the hub cannot accept: "
            "not shared"
        )
    report.blacklist_size = len(unique)
    report.sellers_entries = len(reports)
    report.agent_entries_kept_private = len(unique) - len(mine)
    return reports


def push_large_snapshot(
    hub: HubClient,
    state: LocalState,
    reports: list[Report],
    *,
    progress: ProgressSink | None = None,
    stop: threading.Event | None = None,
) -> PushCounts:
    """Upsert in batches, then withdraw what this agent reported before and is gone (see module doc)."""
    gone = sorted(m for m in state.reported.ids() - {r.member_id for r in reports} if valid_member_id(m))
    total = len(reports) + len(gone)
    counts = PushCounts()
    done = 0
    tell = progress or (lambda _: None)

    def tick(done: int) -> None:
        tell(Progress("share", done, total, "pushing the blacklist in batches"))

    for start in range(0, len(reports), POST_BATCH):
        batch = reports[start : start + POST_BATCH]
        counts += hub.push_reports(batch)
        with state.transaction():
            state.reported.mark(batch)
        done += len(batch)
        tick(done)
    for member_id in gone:
        if stop is not None and stop.is_set():
            break
        if hub.withdraw(member_id):
            counts += PushCounts(withdrawn=1)
        with state.transaction():
            state.reported.unmark([member_id])
            state.outbox.delivered([member_id])
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
