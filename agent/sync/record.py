"""The private record on the hub (docs/safety.md, rule 10): send it as the agent acts, restore it first.

The hub keeps, private to this seller, what the agent added automatically and the seller's allowlist. The
local state queues each change (agent.state.record) and `deliver_record` sends them at every cycle; while
the hub is down they wait. `restore_record` runs once per data dir, before anything is pushed: it takes in
the hub's record, so an agent reinstalled on an empty data dir knows which entries on the store are its own
(and never pushes them as the seller's reports) and which buyers the seller allowlisted (never re-added).
It also sends up what only the local state knows (an agent that predates the record).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from agent.errors import HubRejected
from agent.hub_client import RECORD_BATCH, HubClient
from agent.hub_models import PrivateRecord
from agent.state import LocalState
from agent.state.record import queue_record_change

logger = logging.getLogger(__name__)

_RESTORED_PROVENANCE = {"restored": "from the hub's record of this store (the local state was new)"}


@dataclass(slots=True)
class RestoreResult:
    automatic: int = 0  # entries of the store taken as the agent's
    allowlisted: int = 0
    sent_up: int = 0  # local items the hub's record did not have
    hub_has_no_record: bool = False  # an older hub: nothing to restore
    skipped: list[str] = field(default_factory=list)

    def describe(self) -> str:
        return (
            f"restored this store's record from the hub before pushing anything: {self.automatic} "
            f"entries the agent had added, {self.allowlisted} allowlisted buyers"
        )


def restore_record(hub: HubClient, state: LocalState) -> RestoreResult:
    """Bring the local state in step with the hub's record (raises HubError when the hub cannot say)."""
    result = RestoreResult()
    try:
        record = hub.record()
    except HubRejected as exc:
        if exc.status_code not in (404, 405):
            raise
        record, result.hub_has_no_record = PrivateRecord({}, set()), True
        logger.warning("the hub keeps no private record (an older hub): nothing to restore")
    result.skipped = record.skipped
    with state.transaction():
        known = state.blacklist.known()
        reported = state.reported.ids()
        queued = {i.member_id: i for i in state.outbox.items(include_rejected=True)}
        for member_id in sorted(record.allow - state.allowlist.ids()):
            name = record.auto.get(member_id)
            state.allowlist.add(member_id, name, "restored from the hub's record", to_hub=False)
            result.allowlisted += 1
        for member_id, name in sorted(record.auto.items()):
            mine = known.get(member_id)
            if mine is None:
                state.blacklist.add_automatic(
                    member_id, name, provenance=dict(_RESTORED_PROVENANCE), score=0, to_hub=False
                )
            elif mine.origin == "manual" and member_id not in reported:
                # Taken for the seller's by a cycle that ran before the record could be read: it is the
                # agent's, and its report must not go out (docs/safety.md rule 1).
                state.blacklist.make_automatic(member_id, dict(_RESTORED_PROVENANCE))
                if member_id in queued and queued[member_id].action == "report":
                    state.outbox.delivered([member_id])
            else:
                continue
            result.automatic += 1
        if not result.hub_has_no_record:
            for member_id, entry in state.blacklist.automatic().items():
                if member_id not in record.auto:
                    queue_record_change(state, "auto", "add", member_id, entry.name)
                    result.sent_up += 1
            for member_id in state.allowlist.ids() - record.allow:
                queue_record_change(state, "allow", "add", member_id, None)
                result.sent_up += 1
            state.record.mark_restored()  # an older hub is asked again next time: it may be upgraded
    if result.automatic or result.allowlisted:
        logger.info("%s", result.describe())
    return result


@dataclass(slots=True)
class RecordDelivery:
    sent: int = 0
    refused: list[str] = field(default_factory=list)


def deliver_record(hub: HubClient, state: LocalState) -> RecordDelivery:
    """Send the queued changes of the private record; HubError leaves the rest queued."""
    result = RecordDelivery()
    items = state.record.items()
    if items and not state.record.restored:
        return result  # an older hub without the record: the changes wait for one that keeps it
    for start in range(0, len(items), RECORD_BATCH):
        batch = items[start : start + RECORD_BATCH]
        try:
            hub.post_record([i.change for i in batch])
        except HubRejected as exc:
            if exc.status_code != 422:
                raise
            # Some change is refused as invalid: send them one by one and drop the refused ones.
            for item in batch:
                try:
                    hub.post_record([item.change])
                except HubRejected as one:
                    if one.status_code != 422:
                        raise
                    result.refused.append(item.change.member_id)
                    logger.warning("the hub refused a change of its record: %s", one)
                with state.transaction():
                    state.record.delivered([item])
                result.sent += 1
            continue
        with state.transaction():
            state.record.delivered(batch)
        result.sent += len(batch)
    return result
