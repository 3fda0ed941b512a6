"""LocalState: what the agent remembers between cycles, as small repositories over one SQLite database.

    state.blacklist   the store's blacklist with each entry's origin and provenance   (blacklist.py)
    state.allowlist   buyers never to add automatically                              (blacklist.py)
    state.reported    this seller's reports as the hub holds them                     (blacklist.py)
    state.shared      the pooled list cached from the feed; state.feed: the cursor    (shared.py)
    state.orders      orders read from the store                                      (orders.py)
    state.outbox      reports and withdrawals waiting for the hub                     (outbox.py)
    state.record      changes of the hub's private record waiting to be sent          (record.py)
    state.intents, state.audit, state.alerts, state.review, state.rejections, state.cycles  (journal.py)

The repositories share the connection and its transactions (`state.transaction()`, `state.dry_run()`), so
the engine groups their calls into one atomic step.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from agent.state.blacklist import Allowlist, BlacklistBook, ReportedSet
from agent.state.db import Database
from agent.state.journal import Alerts, AuditLog, Cycles, Intents, Rejections, ReviewList
from agent.state.orders import OrderBook
from agent.state.outbox import Outbox
from agent.state.record import RecordOutbox
from agent.state.shared import FeedPosition, SharedList


class LocalState(Database):
    def __init__(self, conn: sqlite3.Connection, path: Path | None = None) -> None:
        super().__init__(conn, path)
        self.blacklist = BlacklistBook(self)
        self.allowlist = Allowlist(self)
        self.reported = ReportedSet(self)
        self.shared = SharedList(self)
        self.feed = FeedPosition(self)
        self.orders = OrderBook(self)
        self.outbox = Outbox(self)
        self.record = RecordOutbox(self)
        self.intents = Intents(self)
        self.audit = AuditLog(self)
        self.alerts = Alerts(self)
        self.review = ReviewList(self)
        self.rejections = Rejections(self)
        self.cycles = Cycles(self)
