"""The sync engine: what one agent does with its store and the hub, free of browsers and HTTP.

    engine.py        one cycle, its numbered steps           share.py    share-all (a full snapshot)
    reconcile.py     take in the seller's changes            diff.py     what changed since last time
    outbox.py        push reports and withdrawals            feed.py     pull the pooled list
    policy.py        every decision, as plain functions      apply.py    carry additions/removals out
    levers.py        the seller's allow / undo / status      cycle_result.py  what a cycle did
    progress.py      progress events for any front

Fronts never call these directly: they act through `agent.session.AgentSession`.
"""

from __future__ import annotations

from agent.sync.cycle_result import BuyerAction, CycleReport, ShareReport
from agent.sync.engine import BackendFactory, run_cycle
from agent.sync.policy import Policy
from agent.sync.progress import Progress, ProgressSink
from agent.sync.share import share_all

__all__ = [
    "BackendFactory",
    "BuyerAction",
    "CycleReport",
    "Policy",
    "Progress",
    "ProgressSink",
    "ShareReport",
    "run_cycle",
    "share_all",
]
