"""What a sync cycle or a share-all did: plain dataclasses that render as a rich table and as JSON.

The same object is the CLI's summary, `--json`'s output, what `status` shows of the last cycle (stored in
the local state as JSON) and what the background agent logs.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rich.console import Group, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from agent.hub_models import SharedEntry
from agent.wording import plural


def to_data(value: Any) -> Any:
    """JSON-ready data: dataclasses to dicts, datetimes to ISO text, mappings/sequences recursively."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_data(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): to_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_data(v) for v in value]
    return value


@dataclass(frozen=True, slots=True)
class BuyerAction:
    """A buyer the agent added, retracted, evicted or would: with the shared entry behind it."""

    member_id: str
    name: str
    score: int | None = None
    reporters: int | None = None
    reasons: dict[str, int] = field(default_factory=dict)
    why: str = ""

    @classmethod
    def from_entry(cls, entry: SharedEntry, why: str = "") -> BuyerAction:
        return cls(entry.member_id, entry.name, entry.score, entry.reporters, dict(entry.reasons), why)


@dataclass(slots=True)
class CycleReport:
    dry_run: bool = False
    started_at: datetime | None = None
    finished_at: datetime | None = None
    outcome: str = "ok"  # ok | partial | stopped | failed
    blacklist_size: int = 0
    new_manual: list[str] = field(default_factory=list)
    manual_removed: list[str] = field(default_factory=list)
    allowlisted_by_seller: list[str] = field(default_factory=list)
    intents_settled: int = 0
    orders_read: int = 0
    new_orders: int = 0
    reports_pushed: int = 0
    withdrawals_pushed: int = 0
    pushes_rejected: list[str] = field(default_factory=list)
    outbox_pending: int = 0
    feed_not_modified: bool = False
    feed_changes: int = 0
    feed_full_repull: bool = False
    added: list[BuyerAction] = field(default_factory=list)
    retracted: list[BuyerAction] = field(default_factory=list)
    evicted: list[BuyerAction] = field(default_factory=list)
    refused: list[BuyerAction] = field(default_factory=list)
    review: list[BuyerAction] = field(default_factory=list)
    deferred: int = 0
    skipped_allowlisted: int = 0
    blacklist_full: bool = False
    alerts: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"

    def problem(self, message: str) -> None:
        """A step failed but the cycle went on: the result is a partial success (exit 1)."""
        self.errors.append(message)
        if self.outcome == "ok":
            self.outcome = "partial"

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = to_data(self)
        return data

    def render(self) -> RenderableType:
        verb = "would " if self.dry_run else ""
        table = Table(title=f"sync{' (dry run: nothing changed)' if self.dry_run else ''}: {self.outcome}")
        table.add_column("step")
        table.add_column("result", overflow="fold")
        table.add_row("your store", plural(self.blacklist_size, "blacklist entry", "blacklist entries"))
        table.add_row(
            "seller's changes",
            f"{len(self.new_manual)} new, {len(self.manual_removed)} removed, "
            f"{len(self.allowlisted_by_seller)} automatic entries removed by the seller (now allowlisted)",
        )
        table.add_row("orders", f"{self.new_orders} new of {self.orders_read} read")
        table.add_row(
            "pushed to the hub" if not self.dry_run else "would push to the hub",
            f"{plural(self.reports_pushed, 'report')}, {plural(self.withdrawals_pushed, 'withdrawal')}; "
            f"{self.outbox_pending} waiting in the outbox"
            + (f"; {len(self.pushes_rejected)} refused by the hub" if self.pushes_rejected else ""),
        )
        feed = "nothing new (304)" if self.feed_not_modified else plural(self.feed_changes, "change")
        table.add_row("pulled from the hub", feed + (" (full re-pull)" if self.feed_full_repull else ""))
        table.add_row("would add" if self.dry_run else "added", _names(self.added))
        table.add_row(f"{verb}retract" if self.dry_run else "retracted", _names(self.retracted))
        if self.evicted:
            table.add_row(f"{verb}make room", _names(self.evicted))
        if self.refused:
            table.add_row("refused by the store", _names(self.refused))
        if self.review:
            table.add_row("for your review", _names(self.review) + " (good customers here: not blacklisted)")
        if self.deferred:
            table.add_row("next cycle", f"{self.deferred} more (max_new_per_sync reached)")
        parts: list[RenderableType] = [table]
        if self.alerts:
            alerts = Table(title="Check before shipping: orders from buyers on the shared list")
            for column in ("order", "buyer", "reporters", "score", "reasons"):
                alerts.add_column(column)
            for a in self.alerts:
                alerts.add_row(
                    escape(a["order_id"]),
                    escape(f"{a['name']} ({a['member_id']})"),
                    str(a["reporters"]),
                    str(a["score"]),
                    _reasons(a["reasons"]),
                )
            parts.append(alerts)
        parts += [Text(f"warning: {w}", style="yellow") for w in self.warnings]  # Text: never markup
        parts += [Text(f"error: {e}", style="red") for e in self.errors]
        return Group(*parts)


@dataclass(slots=True)
class ShareReport:
    dry_run: bool = False
    outcome: str = "ok"
    blacklist_size: int = 0
    sellers_entries: int = 0  # the seller's own: what is shared
    agent_entries_kept_private: int = 0  # added by the agent: never pushed (docs/safety.md rule 1)
    pushed: int = 0  # created or updated on the hub
    unchanged: int = 0
    withdrawn: int = 0
    batched: bool = False  # over one PUT's limits: upserted in batches, withdrawals one by one
    to_push: list[str] = field(default_factory=list)  # dry run: the member ids that would be pushed
    to_withdraw: list[str] = field(default_factory=list)  # dry run: the member ids that would be withdrawn
    names: dict[str, str] = field(default_factory=dict)  # dry run: member id → name, for what would be pushed
    notes: list[str] = field(default_factory=list)  # e.g. the hub's record restored first (new data dir)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = to_data(self)
        return data

    def render(self) -> RenderableType:
        title = f"share-all{' (dry run: nothing changed)' if self.dry_run else ''}: {self.outcome}"
        table = Table(title=title)
        for column in ("pushed", "unchanged", "withdrawn", "your entries", "automatic (not shared)"):
            table.add_column(column, justify="right")
        table.add_row(
            str(self.pushed),
            str(self.unchanged),
            str(self.withdrawn),
            str(self.sellers_entries),
            str(self.agent_entries_kept_private),
        )
        parts: list[RenderableType] = [table]
        parts += [Text(note) for note in self.notes]
        parts += [Text(f"error: {e}", style="red") for e in self.errors]
        return Group(*parts)


def _names(actions: list[BuyerAction], limit: int = 10) -> str:
    if not actions:
        return "none"
    shown = []
    for a in actions[:limit]:
        extra = f"{plural(a.reporters, 'reporter')}, score {a.score}" if a.reporters is not None else ""
        if a.why:
            extra = f"{extra}; {a.why}" if extra else a.why
        shown.append(f"{a.name} ({a.member_id})" + (f" [{extra}]" if extra else ""))
    more = f" … and {len(actions) - limit} more" if len(actions) > limit else ""
    return escape(f"{len(actions)}: " + ", ".join(shown) + more)


def _reasons(reasons: dict[str, int]) -> str:
    return ", ".join(f"{k} ×{v}" for k, v in sorted(reasons.items())) or "-"
