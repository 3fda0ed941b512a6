"""The agent's local state: SQLite in the data dir, with a versioned schema (see schema.py)."""

from __future__ import annotations

from agent.errors import StateTooNew
from agent.state.orders import COMPLETED_STATUSES
from agent.state.records import (
    AgentEntry,
    Alert,
    AllowlistEntry,
    AuditRecord,
    CycleRecord,
    FeedCursor,
    OutboxItem,
    ReviewRecord,
)
from agent.state.schema import SCHEMA_VERSION
from agent.state.store import LocalState

__all__ = [
    "COMPLETED_STATUSES",
    "SCHEMA_VERSION",
    "AgentEntry",
    "Alert",
    "AllowlistEntry",
    "AuditRecord",
    "CycleRecord",
    "FeedCursor",
    "LocalState",
    "OutboxItem",
    "ReviewRecord",
    "StateTooNew",
]
