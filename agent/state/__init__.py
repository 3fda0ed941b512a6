"""The agent's local state: SQLite in the data dir, with a versioned schema (see schema.py)."""

from __future__ import annotations

from agent.state.records import AgentEntry, Alert, AuditRecord, CycleRecord, OutboxItem, ReviewRecord
from agent.state.schema import SCHEMA_VERSION, StateTooNew
from agent.state.store import COMPLETED_STATUSES, LocalState

__all__ = [
    "COMPLETED_STATUSES",
    "SCHEMA_VERSION",
    "AgentEntry",
    "Alert",
    "AuditRecord",
    "CycleRecord",
    "LocalState",
    "OutboxItem",
    "ReviewRecord",
    "StateTooNew",
]
