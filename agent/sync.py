"""One sync cycle: the product's heartbeat (issue 4, "sync").

    1 session → 2 read the blacklist, take in the seller's changes → 3 read new orders → 4 push the outbox
    → 5 pull the feed → 6 decide with the policy → 8 retract → 7 apply → 9 alert

Retractions run before additions so that they free room on a capped blacklist. The engine talks to the
store only through the `Backend` protocol and to the hub only through `HubClient`; it never imports
Playwright or httpx. A dry run does everything inside a local-state transaction that is rolled back, and
skips the calls that would change the store or the hub, so it computes exactly what a real run would.

Errors: a backend failure (login needs a human, layout changed, backend down) ends the cycle and is
raised after the cycle is recorded as failed; a hub failure makes the cycle a partial success (pushes stay
queued; the policy works from the cached shared list). A stop request (SIGTERM) is honoured between
actions: the current action finishes, state is saved, the report says "stopped".
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import filelock

from agent.apply import Applier, action
from agent.backend.api import Backend
from agent.config import Settings
from agent.errors import AgentError, HubError
from agent.feed import has_pulled, pull_feed
from agent.hub_client import HubClient
from agent.outbox import deliver_outbox, snapshot_if_due
from agent.policy import Policy, decide, retractions
from agent.reconcile import reconcile
from agent.reports import BuyerAction, CycleReport, to_data
from agent.state import LocalState
from agent.state.db import from_iso, now

logger = logging.getLogger(__name__)

BackendFactory = Callable[[], Backend]
"""Opens the store's backend (not yet entered): e.g. `lambda: open_backend(settings, password=...)`."""

ORDERS_OVERLAP = timedelta(minutes=1)
INTENT_RETENTION = timedelta(days=30)
# The first cycle reads the whole order history (for protect_min_orders); only orders this recent can still
# be stopped before shipping, so only they raise alerts.
ALERT_WINDOW = timedelta(days=7)  # re-read a little before the watermark; order ids deduplicate


class CycleBusy(AgentError):
    """Another sync, share-all or undo is changing this agent's store right now."""


@contextmanager
def cycle_lock(settings: Settings, *, timeout: float = 0) -> Iterator[None]:
    """One cycle at a time per data dir (a manual `sync` while `run` is mid-cycle waits or refuses)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(settings.data_dir / "cycle.lock", timeout=timeout, thread_local=False)
    try:
        lock.acquire()
    except filelock.Timeout:
        raise CycleBusy(f"another sync is running for {settings.data_dir}; try again when it ends") from None
    try:
        yield
    finally:
        lock.release()


def run_cycle(
    settings: Settings,
    *,
    backend_factory: BackendFactory,
    hub: HubClient | None,
    state: LocalState,
    dry_run: bool = False,
    stop: threading.Event | None = None,
) -> CycleReport:
    """Run one cycle and return its report; raises the backend's error if the store could not be used."""
    stop = stop or threading.Event()
    report = CycleReport(dry_run=dry_run, started_at=now())
    policy = Policy.from_settings(settings.policy)
    with cycle_lock(settings):
        if dry_run:
            with state.dry_run():
                _cycle(backend_factory, hub, state, policy, report, stop)
            if stop.is_set() and report.outcome == "ok":
                report.outcome = "stopped"
            report.finished_at = now()
            return report
        cycle_id = state.start_cycle("sync")
        try:
            _cycle(backend_factory, hub, state, policy, report, stop)
        except BaseException as exc:
            report.outcome = "failed"
            report.errors.append(str(exc) or type(exc).__name__)
            report.finished_at = now()
            state.finish_cycle(cycle_id, report.outcome, report.as_dict())
            raise
        if stop.is_set() and report.outcome == "ok":
            report.outcome = "stopped"
        report.finished_at = now()
        report.outbox_pending = state.outbox_counts()["pending"]
        state.finish_cycle(cycle_id, report.outcome, report.as_dict())
        state.prune_intents(now() - INTENT_RETENTION)
    logger.info(
        "sync %s: %d added, %d retracted, %d reports and %d withdrawals pushed, %d alerts",
        report.outcome,
        len(report.added),
        len(report.retracted),
        report.reports_pushed,
        report.withdrawals_pushed,
        len(report.alerts),
    )
    return report


def _cycle(
    backend_factory: BackendFactory,
    hub: HubClient | None,
    state: LocalState,
    policy: Policy,
    report: CycleReport,
    stop: threading.Event,
) -> None:
    with backend_factory() as backend:
        backend.ensure_session()  # 1

        seen = backend.read_blacklist()  # 2
        diff = reconcile(state, seen)
        report.blacklist_size = len(seen)
        report.new_manual = [e.member_id for e in diff.new_manual]
        report.manual_removed = [e.member_id for e in diff.removed_manual]
        report.allowlisted_by_seller = [e.member_id for e in diff.removed_by_seller]
        report.intents_settled = len(diff.settled_intents)
        if stop.is_set():
            return

        new_orders = _record_orders(backend, state, report)  # 3

        if hub is None:
            report.warnings.append("no hub configured (hub.url): nothing shared, nothing pulled")
            return
        _push(hub, state, report)  # 4
        _pull(hub, state, report, stop)  # 5
        if stop.is_set():
            return
        if not has_pulled(state):
            report.warnings.append("the shared list has never been pulled: no automatic action this cycle")
            return

        shared = state.shared_entries()  # 6
        blacklisted = {e.member_id for e in seen}
        decision = decide(
            shared.values(),
            policy=policy,
            blacklisted=blacklisted,
            allowlisted=state.allowlisted(),
            completed_orders=state.completed_orders(),
            rejected=state.rejections(),
        )
        state.set_review(decision.review)
        report.review = [action(r.entry, f"{r.completed_orders} completed orders") for r in decision.review]
        report.deferred = len(decision.deferred)
        report.skipped_allowlisted = decision.skipped_allowlisted
        agent_entries = {m: e.name for m, e in state.agent_entries().items()}
        to_retract = retractions(agent_entries, shared, policy)

        if report.dry_run:  # 7-8, described only
            report.retracted = [BuyerAction(r.member_id, r.name, why=r.why) for r in to_retract]
            report.added = [action(e) for e in decision.to_add]
        else:
            applier = Applier(
                backend, state, report, size=len(seen), stop=stop, store_names=state.buyer_names()
            )
            applier.retract(to_retract)  # 8 first: it frees room
            if not stop.is_set():
                applier.add(decision.to_add)  # 7

        for order in new_orders:  # 9
            if not _recent_enough(order.created_at, report.started_at):
                continue
            entry = shared.get(order.member_id)
            if entry is not None:
                alert = state.raise_alert(order, entry)
                if alert is not None:
                    report.alerts.append(to_data(alert))


def _recent_enough(created_at: datetime, started_at: datetime | None) -> bool:
    if started_at is None:
        return True
    if created_at.tzinfo is None:
        created_at = created_at.replace(tzinfo=UTC)
    return created_at >= started_at - ALERT_WINDOW


def _record_orders(backend: Backend, state: LocalState, report: CycleReport) -> list[Any]:
    watermark = from_iso(state.get_meta("orders_watermark"))
    orders = backend.read_orders(newer_than=watermark - ORDERS_OVERLAP if watermark else None)
    with state.transaction():
        new = state.record_orders(orders)
        if orders:
            latest = max(o.created_at for o in orders)
            if watermark is None or latest > watermark:
                # Kept as the backend gave it (naive or aware), so the next comparison is like for like.
                state.set_meta("orders_watermark", latest.isoformat())
    report.orders_read, report.new_orders = len(orders), len(new)
    return new


def _push(hub: HubClient, state: LocalState, report: CycleReport) -> None:
    queued = state.outbox()
    if report.dry_run:
        report.reports_pushed = sum(i.action == "report" for i in queued)
        report.withdrawals_pushed = sum(i.action == "withdraw" for i in queued)
        report.outbox_pending = len(queued)
        return
    try:
        snapshot = snapshot_if_due(hub, state)
    except HubError as exc:
        report.problem(f"pushes kept in the outbox for the next cycle: {exc}")
        report.outbox_pending = state.outbox_counts()["pending"]
        return
    if snapshot is not None:
        report.reports_pushed = snapshot.created + snapshot.updated
        report.withdrawals_pushed = snapshot.withdrawn
        return
    delivered = deliver_outbox(hub, state)
    report.reports_pushed, report.withdrawals_pushed = delivered.reports, delivered.withdrawals
    report.pushes_rejected = delivered.rejected
    if delivered.error:
        report.problem(f"pushes kept in the outbox for the next cycle: {delivered.error}")
    report.outbox_pending = state.outbox_counts()["pending"]


def _pull(hub: HubClient, state: LocalState, report: CycleReport, stop: threading.Event) -> None:
    try:
        pulled = pull_feed(hub, state, stop=stop)
    except HubError as exc:
        report.problem(f"could not pull the shared list (using the last copy): {exc}")
        return
    report.feed_not_modified = pulled.not_modified
    report.feed_changes = pulled.changes
    report.feed_full_repull = pulled.full_repull
