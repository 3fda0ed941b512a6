"""One sync cycle: the product's heartbeat.

    0 restore the hub's private record (once per data dir) → 1 session → 2 read the blacklist, take in the
    seller's changes → 3 read new orders → 4 push the outbox → 5 pull the feed → 6 decide with the policy
    → 8 retract → 7 apply → 9 alert

Retractions run before additions so that they free room on a capped blacklist. The engine talks to the
store only through the `Backend` protocol and to the hub only through `HubClient`; it never imports
Playwright or httpx. A dry run does everything inside a local-state transaction that is rolled back, and
skips the calls that would change the store or the hub, so it computes exactly what a real run would.

Errors: a backend failure (login needs a human, layout changed, backend down) ends the cycle and is
raised after the cycle is recorded as failed; the cycle's request budget running out
(`backend.request_budget`) ends it as a partial success, and the next cycle carries on from what the store
shows (intents recorded before each change settle any change in flight); a hub failure makes the cycle a
partial success (pushes stay queued; the policy works from the cached shared list). A stop request
(SIGTERM) is honoured between actions: the current action finishes, state is saved, the report says
"stopped".
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from datetime import timedelta

from agent.backend.api import Backend
from agent.errors import BudgetExhausted, HubError
from agent.hub_client import HubClient
from agent.hub_models import Report, SharedEntry
from agent.models import BlacklistEntry, Order
from agent.state import LocalState
from agent.state.db import now
from agent.sync import reasons
from agent.sync.alerts import check_before_shipping
from agent.sync.apply import Applier
from agent.sync.cycle_result import BuyerAction, CycleReport, to_data
from agent.sync.feed import has_pulled, pull_feed
from agent.sync.outbox import deliver_outbox, snapshot_if_due
from agent.sync.policy import Policy, Retraction, decide, retractions
from agent.sync.progress import Progress, ProgressSink
from agent.sync.reasons import DEFAULT_REASON
from agent.sync.reconcile import reconcile
from agent.sync.record import deliver_record, restore_record
from agent.wording import plural

logger = logging.getLogger(__name__)

BackendFactory = Callable[[], AbstractContextManager[Backend]]
"""Gives the store's backend for one step, as a context manager (`AgentSession.backend`)."""

ORDERS_OVERLAP = timedelta(minutes=1)  # re-read a little before the watermark; order ids deduplicate
INTENT_RETENTION = timedelta(days=30)


def run_cycle(
    *,
    policy: Policy,
    backend_factory: BackendFactory,
    hub: HubClient | None,
    state: LocalState,
    dry_run: bool = False,
    stop: threading.Event | None = None,
    progress: ProgressSink | None = None,
    default_reason: str = DEFAULT_REASON,
) -> CycleReport:
    """Run one cycle and return its report; raises the backend's error if the store could not be used.

    The caller holds the data dir's cycle lock (`AgentSession` takes it), so two cycles never interleave.
    `default_reason`: what reports of buyers the seller blacklisted by hand say (`sharing.default_reason`).
    """
    stop = stop or threading.Event()
    report = CycleReport(dry_run=dry_run, started_at=now())
    steps = _Steps(backend_factory, hub, state, policy, report, stop, progress or _ignore)
    steps.default_reason = default_reason
    if dry_run:
        with state.dry_run():
            steps.within_budget(steps.run)()
        if stop.is_set() and report.outcome == "ok":
            report.outcome = "stopped"
        report.finished_at = now()
        return report
    return _recorded("sync", steps.within_budget(steps.run), state, report, stop)


def run_apply(
    *,
    policy: Policy,
    backend_factory: BackendFactory,
    hub: HubClient,
    state: LocalState,
    stop: threading.Event | None = None,
    progress: ProgressSink | None = None,
) -> CycleReport:
    """The apply-only step of live protection (agent.sync.live): steps 4-8 of a cycle and nothing else.

    Push the outbox, pull the feed, decide, retract and add, under the same budgets and safety rules as a
    cycle; it reads neither customers, orders nor the blacklist (the local record of the blacklist stands
    in for it, kept true by the cycles and head checks). The store is opened only when the policy asks for
    a change, so a wake-up that changes nothing costs no browser. The caller holds the cycle lock.
    """
    stop = stop or threading.Event()
    report = CycleReport(started_at=now())
    steps = _Steps(backend_factory, hub, state, policy, report, stop, progress or _ignore)
    return _recorded("live", steps.within_budget(steps.apply_only), state, report, stop)


def run_head_check(
    *,
    backend_factory: BackendFactory,
    hub: HubClient | None,
    state: LocalState,
    default_reason: str = DEFAULT_REASON,
) -> list[BlacklistEntry]:
    """Read the newest entries of the store's blacklist (its first page) and report new manual ones now.

    Only additions are taken in: a first page cannot show what was removed (the full cycle does that).
    Returns the new manual entries; pushes them when there are any (a hub failure leaves them queued).
    Before the first full cycle has read the whole blacklist nothing is known to compare with: it waits.
    The caller holds the cycle lock.
    """
    last = state.cycles.last("sync")
    if last is None or last.outcome not in ("ok", "partial"):
        return []
    with backend_factory() as backend:
        backend.ensure_session()
        head = backend.read_blacklist_head()
    known = state.blacklist.known()
    pending = {i.member_id for i in state.intents.pending()}  # the next full read settles these
    new = [e for e in head if e.member_id not in known and e.member_id not in pending]
    if not new:
        return []
    with state.transaction():
        for entry in new:
            state.blacklist.add_manual(entry)
            reasons.remember(state, entry.member_id, default_reason)
            state.outbox.queue_report(
                Report(entry.member_id, entry.name, default_reason, entry.blacklisted_at)
            )
    logger.info("head check: %s blacklisted by hand, reported now", plural(len(new), "new buyer"))
    if hub is not None:
        delivered = deliver_outbox(hub, state)
        if delivered.error:
            logger.warning("head check: reports kept in the outbox for the next cycle: %s", delivered.error)
    return new


def _recorded(
    kind: str, work: Callable[[], None], state: LocalState, report: CycleReport, stop: threading.Event
) -> CycleReport:
    """Run `work` as a cycle of `kind` recorded in the local state (what `status` shows)."""
    cycle_id = state.cycles.start(kind)
    try:
        work()
    except BaseException as exc:
        report.outcome = "failed"
        report.errors.append(str(exc) or type(exc).__name__)
        report.finished_at = now()
        state.cycles.finish(cycle_id, report.outcome, report.as_dict())
        raise
    if stop.is_set() and report.outcome == "ok":
        report.outcome = "stopped"
    report.finished_at = now()
    report.outbox_pending = state.outbox.counts()["pending"]
    state.cycles.finish(cycle_id, report.outcome, report.as_dict())
    state.intents.prune(now() - INTENT_RETENTION)
    logger.info(
        "%s %s: %d added, %d retracted, %s and %s pushed, %s",
        kind,
        report.outcome,
        len(report.added),
        len(report.retracted),
        plural(report.reports_pushed, "report"),
        plural(report.withdrawals_pushed, "withdrawal"),
        plural(len(report.alerts), "alert"),
    )
    return report


def _ignore(_: Progress) -> None:
    return None


class _Steps:
    """The numbered steps of one cycle over its dependencies; `run` takes them in order."""

    def __init__(
        self,
        backend_factory: BackendFactory,
        hub: HubClient | None,
        state: LocalState,
        policy: Policy,
        report: CycleReport,
        stop: threading.Event,
        progress: ProgressSink,
    ) -> None:
        self.backend_factory = backend_factory
        self.hub = hub
        self.state = state
        self.policy = policy
        self.report = report
        self.stop = stop
        self.progress = progress
        self.default_reason = DEFAULT_REASON
        self.restore_failed = False

    def within_budget(self, work: Callable[[], None]) -> Callable[[], None]:
        """`work`, ending as a partial result when the backend's request budget runs out."""

        def run() -> None:
            try:
                work()
            except BudgetExhausted as exc:
                # Polite, not broken: everything done so far is saved, and the next cycle resumes from there.
                self.report.problem(str(exc))

        return run

    def run(self) -> None:
        report, state, stop = self.report, self.state, self.stop
        if self.hub is not None and not state.record.restored:
            self.restore(self.hub)  # 0: before step 2 takes the store's entries for the seller's
        with self.backend_factory() as backend:
            self.progress(Progress("login", 0, None, "logging in to the store"))
            backend.ensure_session()  # 1
            seen = self.read_blacklist(backend)  # 2
            if stop.is_set():
                return
            new_orders = self.record_orders(backend)  # 3
            if self.hub is None:
                report.warnings.append("no hub configured (hub.url): nothing shared, nothing pulled")
                return
            self.push(self.hub)  # 4
            self.pull(self.hub)  # 5
            if stop.is_set():
                return
            if not has_pulled(state):
                report.warnings.append(
                    "the shared list has never been pulled: no automatic action this cycle"
                )
                return
            shared = state.shared.entries()
            to_add, to_retract = self.decide(shared, {e.member_id for e in seen})  # 6
            if report.dry_run:  # 7-8, described only
                report.retracted = [BuyerAction(r.member_id, r.name, why=r.why) for r in to_retract]
                report.added = [BuyerAction.from_entry(e) for e in to_add]
            else:
                applier = Applier(
                    backend,
                    state,
                    report,
                    size=len(seen),
                    stop=stop,
                    store_names=state.orders.buyer_names(),
                    progress=self.progress,
                )
                applier.retract(to_retract)  # 8 first: it frees room
                if not stop.is_set():
                    applier.add(to_add)  # 7
            self.alert(new_orders, shared)  # 9
            if not report.dry_run:
                self.send_record(self.hub)  # this cycle's changes reach the hub now (docs/safety.md rule 10)

    def apply_only(self) -> None:
        """Steps 4-8 without reading the store (see `run_apply`)."""
        report, state, stop, hub = self.report, self.state, self.stop, self.hub
        assert hub is not None  # run_apply takes a hub
        if not state.record.restored:
            # A new data dir: only a full cycle takes in the hub's record before anything is pushed.
            report.warnings.append("waiting for a first full cycle: nothing applied")
            return
        self.push(hub)  # 4
        self.pull(hub)  # 5
        if stop.is_set():
            return
        if not has_pulled(state):
            report.warnings.append("the shared list has never been pulled: no automatic action yet")
            return
        if state.intents.pending():
            # An action interrupted by a crash: only a full read of the blacklist can settle it.
            report.warnings.append("an interrupted action waits for the next full cycle: nothing applied")
            return
        known = state.blacklist.known()
        to_add, to_retract = self.decide(state.shared.entries(), set(known))  # 6
        if not to_add and not to_retract:
            return
        with self.backend_factory() as backend:
            backend.ensure_session()
            applier = Applier(
                backend,
                state,
                report,
                size=len(known),
                stop=stop,
                store_names=state.orders.buyer_names(),
                progress=self.progress,
            )
            applier.retract(to_retract)  # 8
            if not stop.is_set():
                applier.add(to_add)  # 7

    def read_blacklist(self, backend: Backend) -> list[BlacklistEntry]:
        self.progress(Progress("blacklist", 0, None, "reading the store's blacklist"))
        seen = backend.read_blacklist()
        diff = reconcile(self.state, seen, reason=self.default_reason)
        report = self.report
        report.blacklist_size = len(seen)
        report.new_manual = [e.member_id for e in diff.new_manual]
        report.manual_removed = [e.member_id for e in diff.removed_manual]
        report.allowlisted_by_seller = [e.member_id for e in diff.removed_by_seller]
        report.intents_settled = len(diff.settled_intents)
        self.progress(Progress("blacklist", len(seen), len(seen), "read the store's blacklist"))
        return seen

    def record_orders(self, backend: Backend) -> list[Order]:
        state = self.state
        watermark = state.orders.watermark
        self.progress(Progress("orders", 0, None, "reading new orders"))
        orders = backend.read_orders(newer_than=watermark - ORDERS_OVERLAP if watermark else None)
        with state.transaction():
            new = state.orders.record(orders)
            if orders:
                latest = max(o.created_at for o in orders)
                if watermark is None or latest > watermark:
                    state.orders.watermark = latest
        self.report.orders_read, self.report.new_orders = len(orders), len(new)
        self.progress(Progress("orders", len(orders), len(orders), f"{len(new)} new orders"))
        return new

    def restore(self, hub: HubClient) -> None:
        """Step 0 (docs/safety.md rule 10): take in the hub's record of this store before pushing."""
        try:
            restored = restore_record(hub, self.state)
        except HubError as exc:
            self.report.problem(f"could not read this store's record on the hub, so nothing is pushed: {exc}")
            self.restore_failed = True
            return
        if restored.automatic or restored.allowlisted:
            self.report.warnings.append(restored.describe())

    def push(self, hub: HubClient) -> None:
        state, report = self.state, self.report
        if self.restore_failed:
            # Step 0 failed: without the record, the agent's own entries could go out as the seller's
            # reports (docs/safety.md rule 1), so nothing is pushed this cycle.
            report.outbox_pending = state.outbox.counts()["pending"]
            return
        if not report.dry_run:
            self.send_record(hub)
        queued = state.outbox.items()
        if report.dry_run:
            report.reports_pushed = sum(i.action == "report" for i in queued)
            report.withdrawals_pushed = sum(i.action == "withdraw" for i in queued)
            report.outbox_pending = len(queued)
            return
        try:
            snapshot = snapshot_if_due(hub, state)
        except HubError as exc:
            report.problem(f"pushes kept in the outbox for the next cycle: {exc}")
            report.outbox_pending = state.outbox.counts()["pending"]
            return
        if snapshot is not None:
            report.reports_pushed = snapshot.created + snapshot.updated
            report.withdrawals_pushed = snapshot.withdrawn
        else:
            delivered = deliver_outbox(hub, state)
            report.reports_pushed, report.withdrawals_pushed = delivered.reports, delivered.withdrawals
            report.pushes_rejected = delivered.rejected
            if delivered.error:
                report.problem(f"pushes kept in the outbox for the next cycle: {delivered.error}")
            report.outbox_pending = state.outbox.counts()["pending"]
        pushed = report.reports_pushed + report.withdrawals_pushed
        self.progress(Progress("push", pushed, pushed, "pushed reports and withdrawals"))

    def send_record(self, hub: HubClient) -> None:
        """The queued changes of this store's private record on the hub (docs/safety.md rule 10)."""
        try:
            deliver_record(hub, self.state)
        except HubError as exc:
            message = f"this store's record on the hub is not up to date yet (kept for later): {exc}"
            if message not in self.report.warnings:
                self.report.warnings.append(message)

    def pull(self, hub: HubClient) -> None:
        self.progress(Progress("pull", 0, None, "pulling the shared list"))
        try:
            pulled = pull_feed(hub, self.state, stop=self.stop)
        except HubError as exc:
            self.report.problem(f"could not pull the shared list (using the last copy): {exc}")
            return
        self.report.feed_not_modified = pulled.not_modified
        self.report.feed_changes = pulled.changes
        self.report.feed_full_repull = pulled.full_repull
        if pulled.skipped_count:  # a broken entry is left out; the others are used
            self.report.warnings.append(
                f"skipped {plural(pulled.skipped_count, 'unreadable change')} from the hub's feed: "
                + "; ".join(pulled.skipped)
            )
        if pulled.bound:
            self.report.problem(f"the shared list was not pulled to the end: {pulled.bound}")
        self.progress(Progress("pull", pulled.changes, pulled.changes, "pulled the shared list"))

    def decide(
        self, shared: Mapping[str, SharedEntry], blacklisted: set[str]
    ) -> tuple[list[SharedEntry], list[Retraction]]:
        state, report = self.state, self.report
        decision = decide(
            shared.values(),
            policy=self.policy,
            blacklisted=blacklisted,
            allowlisted=state.allowlist.ids(),
            completed_orders=state.orders.completed_counts(),
            rejected=state.rejections.names(),
        )
        state.review.replace(decision.review)
        report.review = [
            BuyerAction.from_entry(r.entry, f"{r.completed_orders} completed orders") for r in decision.review
        ]
        report.deferred = len(decision.deferred)
        report.skipped_allowlisted = decision.skipped_allowlisted
        automatic = {m: e.name for m, e in state.blacklist.automatic().items()}
        return decision.to_add, retractions(automatic, shared, self.policy)

    def alert(self, new_orders: list[Order], shared: Mapping[str, SharedEntry]) -> None:
        """Step 9: new orders from buyers other stores report: check before shipping (agent.sync.alerts)."""
        checked = check_before_shipping(
            self.hub, self.state, new_orders, shared, now=self.report.started_at or now()
        )
        self.report.alerts += [to_data(alert) for alert in checked.alerts]
        if checked.problem:
            self.report.warnings.append(f"check before shipping used the cached list: {checked.problem}")
