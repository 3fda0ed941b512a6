"""Step 4: deliver the outbox of reports and withdrawals to the hub.

Items leave the outbox only once the hub has answered for them. When the hub is down (or rate-limiting)
they stay and go at the next cycle. Items the hub refuses as invalid (422, which names them by index) are
set aside as rejected, visible in `status`, so one bad item never blocks the others.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from agent.errors import HubError, HubRateLimited, HubRejected
from agent.hub_client import POST_BATCH, HubClient, fits_one_put, rejected_indexes
from agent.hub_models import PushCounts, Report
from agent.state import LocalState, OutboxItem
from agent.state.db import now
from agent.sync.reasons import own_reason

logger = logging.getLogger(__name__)


# The hub halves a report's weight once it has not been confirmed for `report_stale_days` (90 by default)
# and stops counting it after `report_ttl_days` (180). Upserts only carry new entries, so a running agent
# confirms the seller's whole set again this often, well inside both.
RECONFIRM_EVERY = timedelta(days=7)


def snapshot_if_due(hub: HubClient, state: LocalState) -> PushCounts | None:
    """Push the seller's whole set as a snapshot when none was pushed yet, or to confirm it again.

    The first: the hub lets a seller's first PUT carry up to 10,000 new reports, while POSTs are held to a
    daily quota, so a store that starts with `run` instead of `share-all` would otherwise trickle its
    blacklist in for days. Later ones, every RECONFIRM_EVERY: the hub lets reports age and expire unless
    they are confirmed, and the seller's entries are still on the blacklist. Returns None when no snapshot
    is due (or it does not fit one PUT, or the hub refused it): the outbox then does the work.
    """
    first = not state.reported.ever_snapshotted
    pushed_at = state.reported.snapshot_at
    if pushed_at is not None and now() - pushed_at < RECONFIRM_EVERY:
        return None
    known = state.blacklist.known()
    queued = state.outbox.items()
    # Items the hub refused as invalid stay out (it would refuse the whole snapshot) and stay visible.
    refused = {i.member_id for i in state.outbox.items(include_rejected=True)} - {i.member_id for i in queued}
    reports = [
        Report(m, k.name, own_reason(state, m))
        for m, k in sorted(known.items())
        if k.origin == "manual" and m not in refused
    ]
    if not fits_one_put(reports):
        return None
    try:
        counts = hub.put_snapshot(reports)
    except HubRejected as exc:
        if exc.status_code not in (413, 422):
            raise
        # Some report is invalid: the outbox sets bad items aside one by one, so let it do the work.
        logger.warning("snapshot refused (%s); pushing through the outbox instead", exc)
        state.reported.snapshot_pushed()  # tried: the next attempt is a confirmation, in a week
        return None
    except HubRateLimited as exc:
        if first:
            raise
        # A quota answer for a confirmation: the outbox still delivers (withdrawals use no quota).
        logger.warning("confirming the reports again must wait: %s", exc)
        return None
    with state.transaction():
        state.reported.replace(reports)
        state.outbox.delivered([i.member_id for i in queued])  # the snapshot carried every queued wish
        state.reported.snapshot_pushed()
    logger.info("snapshot pushed (%s): %d reports", "first" if first else "confirmation", len(reports))
    return counts


@dataclass(slots=True)
class DeliveryResult:
    reports: int = 0
    withdrawals: int = 0
    rejected: list[str] = field(default_factory=list)
    error: str | None = None  # set when delivery stopped early; the rest stays queued


def deliver_outbox(hub: HubClient, state: LocalState) -> DeliveryResult:
    result = DeliveryResult()
    items = state.outbox.items()
    reports = [i for i in items if i.action == "report"]
    withdrawals = [i for i in items if i.action == "withdraw"]
    try:
        # Withdrawals first: they let other stores' agents retract (docs/safety.md rule 4) and use no
        # quota, so a daily quota of new reports that is used up must not hold them back until midnight.
        for item in withdrawals:
            try:
                hub.withdraw(item.member_id)
            except ValueError as exc:  # an id queued by an older agent that no hub path may carry
                _reject(state, [item], str(exc), result)
                continue
            except HubRejected as exc:
                if exc.status_code != 422:
                    raise
                _reject(state, [item], str(exc), result)
                continue
            with state.transaction():
                state.outbox.delivered([item.member_id])
                state.reported.unmark([item.member_id])
            result.withdrawals += 1
        for start in range(0, len(reports), POST_BATCH):
            _deliver_reports(hub, state, reports[start : start + POST_BATCH], result)
    except HubError as exc:
        # Unreachable, rate-limited, answering nonsense, or refusing us as a whole (401/403): everything
        # left stays queued.
        result.error = str(exc)
        logger.warning("outbox delivery stopped, items stay queued: %s", exc)
    return result


def _deliver_reports(
    hub: HubClient, state: LocalState, batch: Sequence[OutboxItem], result: DeliveryResult
) -> None:
    try:
        hub.push_reports([i.as_report() for i in batch])
    except HubRejected as exc:
        if exc.status_code not in (413, 422):
            raise
        bad = rejected_indexes(exc.detail)
        if not bad or len(batch) == 1:
            if len(batch) > 1 and exc.status_code == 413:
                half = len(batch) // 2  # too big a body: halve until it fits
                _deliver_reports(hub, state, batch[:half], result)
                _deliver_reports(hub, state, batch[half:], result)
                return
            _reject(state, batch, str(exc), result)
            return
        _reject(state, [batch[i] for i in sorted(bad) if i < len(batch)], str(exc), result)
        rest = [item for i, item in enumerate(batch) if i not in bad]
        if rest:
            _deliver_reports(hub, state, rest, result)
        return
    with state.transaction():
        state.outbox.delivered([i.member_id for i in batch])
        state.reported.mark([i.as_report() for i in batch])
    result.reports += len(batch)


def _reject(state: LocalState, items: Sequence[OutboxItem], message: str, result: DeliveryResult) -> None:
    with state.transaction():
        state.outbox.failed([i.member_id for i in items], message, rejected=True)
    result.rejected += [i.member_id for i in items]
    logger.warning("the hub refused %d queued items: %s", len(items), message)
