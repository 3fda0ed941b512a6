"""The local state: schema versions, transactions, dry runs, the outbox and intents surviving a crash."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agent.hub_models import Report
from agent.models import BlacklistEntry, Order
from agent.state import SCHEMA_VERSION, LocalState, StateTooNew


def test_new_state_file_gets_the_current_schema_version(tmp_path: Path) -> None:
    with LocalState.open(tmp_path / "state.sqlite3") as state:
        assert state.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_two_processes_creating_the_same_new_state_file_at_once_both_open_it(tmp_path: Path) -> None:
    # e.g. the dashboard and `run` started together on a fresh install: both see version 0, one migrates.
    failures: list[BaseException] = []
    for attempt in range(15):
        path = tmp_path / f"state-{attempt}.sqlite3"
        barrier = threading.Barrier(3)

        def open_state(path: Path = path, barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            try:
                with LocalState.open(path) as state:
                    assert state.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
            except BaseException as exc:
                failures.append(exc)

        openers = [threading.Thread(target=open_state) for _ in range(3)]
        for opener in openers:
            opener.start()
        for opener in openers:
            opener.join()
    assert failures == []


def test_a_state_file_from_a_newer_agent_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    sqlite3.connect(path).execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StateTooNew):
        LocalState.open(path)


def test_a_failed_transaction_leaves_nothing_behind() -> None:
    state = LocalState.in_memory()

    def fail_midway() -> None:
        with state.transaction():
            state.blacklist.add_manual(BlacklistEntry("a", "A"))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        fail_midway()
    assert state.blacklist.known() == {}


def test_a_dry_run_rolls_back_everything_written_inside() -> None:
    state = LocalState.in_memory()
    with state.dry_run():
        with state.transaction():
            state.blacklist.add_manual(BlacklistEntry("a", "A"))
        assert "a" in state.blacklist.known()  # visible inside, so the dry run computes like a real one
    assert state.blacklist.known() == {}


def test_the_latest_wish_per_buyer_wins_in_the_outbox() -> None:
    state = LocalState.in_memory()
    state.outbox.queue_report(Report("a", "A"))
    state.outbox.queue_withdrawal("a", "A")
    assert [(i.member_id, i.action) for i in state.outbox.items()] == [("a", "withdraw")]


def test_outbox_and_pending_intents_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    with LocalState.open(path) as state:
        state.outbox.queue_report(Report("a", "A"))
        state.intents.record("add", "x", "X", why="policy", provenance={"reporters": 2}, score=50)
    with LocalState.open(path) as state:
        assert [i.member_id for i in state.outbox.items()] == ["a"]
        (intent,) = state.intents.pending()
        assert (intent.action, intent.member_id, intent.provenance, intent.score) == (
            "add",
            "x",
            {"reporters": 2},
            50,
        )
        state.intents.settle(intent.id, "done", "added")
        assert state.intents.pending() == []


def test_counts_by_origin_separate_the_sellers_entries_from_the_agents() -> None:
    state = LocalState.in_memory()
    state.blacklist.add_manual(BlacklistEntry("m", "M"))
    state.blacklist.add_automatic("g", "G", provenance={"reporters": 2}, score=40)
    assert state.blacklist.counts_by_origin() == {"manual": 1, "agent": 1}
    assert state.blacklist.automatic()["g"].provenance == {"reporters": 2}


def test_a_buyers_name_in_this_store_is_the_one_on_their_latest_order() -> None:
    state = LocalState.in_memory()
    state.orders.record(
        [
            Order("o1", "x", "Old Name", datetime(2026, 1, 1, tzinfo=UTC)),
            Order("o2", "x", "New Name", datetime(2026, 3, 1, tzinfo=UTC)),
            Order("o3", "y", "Yvonne", datetime(2026, 2, 1, tzinfo=UTC)),
        ]
    )
    assert state.orders.buyer_names() == {"x": "New Name", "y": "Yvonne"}
