"""The background agent's scheduler: a real APScheduler with intervals of a fraction of a second."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from agent.errors import LoginNeedsHuman
from agent.scheduler import (
    AlreadyRunning,
    InstanceLock,
    LiveHooks,
    Runner,
    Schedule,
    install_signal_handlers,
)

FAST = Schedule(
    interval_seconds=0.2,
    jitter_seconds=0,
    max_cycle_seconds=30,
    misfire_grace_seconds=5,
    stop_grace_seconds=5,
)


class LedgerCycle:
    """A real little cycle: applies numbered actions to a SQLite ledger, checking the stop event between
    actions like the sync engine does. `stop_after_cycles` asks the runner to stop from inside."""

    def __init__(self, db: Path, *, actions: int = 3, action_seconds: float = 0.0) -> None:
        self.db = db
        self.actions = actions
        self.action_seconds = action_seconds
        self.calls = 0
        self.started = threading.Event()
        with sqlite3.connect(db) as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS ledger (cycle INTEGER, action INTEGER, done INTEGER)")

    def __call__(self, stop: threading.Event) -> bool:
        self.calls += 1
        self.started.set()
        with sqlite3.connect(self.db) as conn:
            for action in range(self.actions):
                if stop.is_set():
                    return True
                conn.execute("INSERT INTO ledger VALUES (?, ?, 0)", (self.calls, action))
                conn.commit()
                stop.wait(self.action_seconds)  # the action's I/O; a stop request does not cut it short
                conn.execute(
                    "UPDATE ledger SET done = 1 WHERE cycle = ? AND action = ?", (self.calls, action)
                )
                conn.commit()
        return True

    def rows(self) -> list[tuple[int, int, int]]:
        with sqlite3.connect(self.db) as conn:
            return list(conn.execute("SELECT cycle, action, done FROM ledger ORDER BY cycle, action"))


def stop_when(runner: Runner, condition: object, *, timeout: float = 10) -> None:
    """Ask the runner to stop (from another thread, like a signal would) once `condition()` holds."""

    def watch() -> None:
        for _ in range(int(timeout / 0.02)):
            if condition():  # type: ignore[operator]
                break
            threading.Event().wait(0.02)
        runner.request_stop("test")

    threading.Thread(target=watch, daemon=True).start()


def test_first_cycle_runs_at_start_then_every_interval(tmp_path: Path) -> None:
    cycle = LedgerCycle(tmp_path / "ledger.db")
    runner = Runner(cycle, FAST)
    stop_when(runner, lambda: cycle.calls >= 3)

    assert runner.run_forever() == 0
    assert cycle.calls >= 3
    assert all(done for _, _, done in cycle.rows())


def test_cycles_never_overlap_even_when_one_outlasts_the_interval(tmp_path: Path) -> None:
    running, overlaps, calls = [0], [0], [0]
    guard = threading.Lock()

    def slow_cycle(stop: threading.Event) -> bool:
        with guard:
            running[0] += 1
            overlaps[0] = max(overlaps[0], running[0])
            calls[0] += 1
        stop.wait(0.5)  # five intervals long
        with guard:
            running[0] -= 1
        return True

    runner = Runner(slow_cycle, Schedule(interval_seconds=0.1, jitter_seconds=0, stop_grace_seconds=5))
    stop_when(runner, lambda: calls[0] >= 3)

    assert runner.run_forever() == 0
    assert overlaps[0] == 1


def test_stop_request_finishes_the_current_action_and_exits_zero(tmp_path: Path) -> None:
    cycle = LedgerCycle(tmp_path / "ledger.db", actions=50, action_seconds=0.05)
    runner = Runner(cycle, FAST)
    stop_when(runner, lambda: len(cycle.rows()) >= 3)

    assert runner.run_forever() == 0
    rows = cycle.rows()
    assert 3 <= len(rows) < 50  # stopped early ...
    assert all(done for _, _, done in rows)  # ... but never half-way through an action
    assert cycle.calls == 1


def test_sigterm_stops_the_agent_cleanly(tmp_path: Path) -> None:
    cycle = LedgerCycle(tmp_path / "ledger.db", actions=50, action_seconds=0.05)
    runner = Runner(cycle, FAST)
    restore = install_signal_handlers(runner)

    def terminate_once_started() -> None:
        cycle.started.wait(10)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=terminate_once_started, daemon=True).start()
    try:
        assert runner.run_forever() == 0
    finally:
        restore()
    assert all(done for _, _, done in cycle.rows())
    assert len(cycle.rows()) < 50


def test_cycle_over_its_time_limit_is_asked_to_stop_and_reported_as_failed(tmp_path: Path) -> None:
    cycle = LedgerCycle(tmp_path / "ledger.db", actions=1000, action_seconds=0.05)
    runner = Runner(cycle, Schedule(max_cycle_seconds=0.3, stop_grace_seconds=5))

    assert runner.run_once() == 1
    assert 0 < len(cycle.rows()) < 1000
    assert all(done for _, _, done in cycle.rows())


def test_cycle_ignoring_its_time_limit_ends_the_process_non_zero(tmp_path: Path) -> None:
    release = threading.Event()
    exits: list[int] = []

    def stuck_cycle(stop: threading.Event) -> bool:
        release.wait(10)  # a hung browser call: never looks at `stop`
        return True

    def hard_exit(code: int) -> None:
        exits.append(code)
        release.set()

    runner = Runner(stuck_cycle, Schedule(max_cycle_seconds=0.2, stop_grace_seconds=0.3), hard_exit=hard_exit)

    assert runner.run_once() == 1
    assert exits == [1]


def test_login_needing_a_human_is_not_retried_until_a_new_session_is_saved(tmp_path: Path) -> None:
    session = tmp_path / "storage_state.json"
    session.write_text("{}")
    calls: list[int] = []

    def cycle(stop: threading.Event) -> bool:
        calls.append(1)
        if len(calls) == 1:
            raise LoginNeedsHuman("one-time code required", page="login")
        return True

    runner = Runner(cycle, FAST, session_path=session)
    skipped_enough = threading.Event()

    def seller_logs_in() -> None:
        threading.Event().wait(1.0)  # five intervals go by with no new attempt
        skipped_enough.set()
        os.utime(session, (1, 1))  # `login --interactive` saved a new session

    threading.Thread(target=seller_logs_in, daemon=True).start()
    stop_when(runner, lambda: len(calls) >= 2)

    assert runner.run_forever() == 0
    assert skipped_enough.is_set()
    assert len(calls) == 2


def test_run_once_exit_codes_say_success_partial_or_human_needed(tmp_path: Path) -> None:
    def needs_human(stop: threading.Event) -> bool:
        raise LoginNeedsHuman("one-time code required")

    assert Runner(lambda stop: True, FAST).run_once() == 0
    assert Runner(lambda stop: False, FAST).run_once() == 1
    assert Runner(needs_human, FAST).run_once() == 1


def test_next_run_time_is_reported_after_each_cycle_and_cleared_on_stop(tmp_path: Path) -> None:
    cycle = LedgerCycle(tmp_path / "ledger.db")
    reported: list[datetime | None] = []
    runner = Runner(cycle, FAST, on_next_run=reported.append)
    stop_when(runner, lambda: len(reported) >= 2)

    assert runner.run_forever() == 0
    assert all(isinstance(when, datetime) for when in reported[:2])
    assert reported[1] > reported[0]  # type: ignore[operator]
    assert reported[-1] is None  # not running any more: no next run


HOLD_LOCK = """
import sys
from pathlib import Path
from agent.scheduler import InstanceLock
with InstanceLock(Path(sys.argv[1])):
    print("locked", flush=True)
    sys.stdin.read()
"""


def test_second_agent_on_the_same_data_dir_is_refused_naming_the_first(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(AlreadyRunning) as refused:
            InstanceLock(tmp_path).acquire()
        assert str(tmp_path) in str(refused.value)
        assert str(holder.pid) in str(refused.value)
    finally:
        holder.communicate("", timeout=10)
    with InstanceLock(tmp_path):  # free again once the first agent is gone
        pass


# -- live protection between cycles ---------------------------------------------------------------------

HOUR = Schedule(interval_seconds=3600, jitter_seconds=0, stop_grace_seconds=5)


class Journal:
    """Steps that record when they start and end, so a test can see whether two ever overlapped."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self._lock = threading.Lock()

    def step(self, name: str, seconds: float = 0.0) -> Callable[[threading.Event], bool]:
        def run(stop: threading.Event) -> bool:
            with self._lock:
                self.events.append(f"{name} start")
            stop.wait(seconds)
            with self._lock:
                self.events.append(f"{name} end")
            return True

        return run

    def count(self, event: str) -> int:
        with self._lock:
            return self.events.count(event)

    def overlapped(self) -> bool:
        running = 0
        for event in list(self.events):
            running += 1 if event.endswith("start") else -1
            if running > 1:
                return True
        return False


def scripted_waits(*answers: bool, after: threading.Event | None = None) -> Callable[[threading.Event], bool]:
    """A listener's waits: the scripted answers one after another (the first once `after` is set), then
    quiet waits."""
    queue = list(answers)

    def wait(stop: threading.Event) -> bool:
        if after is not None and not after.wait(10):
            return False
        if queue:
            return queue.pop(0)
        stop.wait(0.05)
        return False

    return wait


def test_changes_heard_together_between_cycles_run_one_live_step(tmp_path: Path) -> None:
    journal = Journal()
    first_cycle_done = threading.Event()

    def cycle(stop: threading.Event) -> bool:
        journal.step("cycle")(stop)
        first_cycle_done.set()
        return True

    live = LiveHooks(
        wait=scripted_waits(True, True, True, after=first_cycle_done),
        apply=journal.step("live"),
        debounce_seconds=0.3,
    )
    runner = Runner(cycle, HOUR, live=live)
    stop_when(runner, lambda: journal.count("live end") >= 1)

    assert runner.run_forever() == 0
    assert journal.count("cycle end") == 1  # no extra full cycle: the change went through the live step
    assert journal.count("live end") == 1  # three wake-ups within the debounce: one step
    assert runner.live_steps_run == 1


def test_a_live_step_waits_for_the_running_cycle_and_never_runs_beside_it(tmp_path: Path) -> None:
    journal = Journal()
    cycle_started = threading.Event()
    slow = journal.step("cycle", seconds=0.5)

    def cycle(stop: threading.Event) -> bool:
        cycle_started.set()
        return slow(stop)

    live = LiveHooks(
        wait=scripted_waits(True, after=cycle_started),  # the change arrives mid-cycle
        apply=journal.step("live", seconds=0.1),
        debounce_seconds=0.0,
    )
    runner = Runner(cycle, HOUR, live=live)
    stop_when(runner, lambda: journal.count("live end") >= 1)

    assert runner.run_forever() == 0
    assert journal.events[:2] == ["cycle start", "cycle end"]
    assert journal.count("live end") == 1
    assert not journal.overlapped()


def test_head_checks_run_between_cycles_on_their_own_interval(tmp_path: Path) -> None:
    journal = Journal()
    live = LiveHooks(
        wait=None, apply=journal.step("live"), head_check=journal.step("head"), head_check_seconds=0.1
    )
    runner = Runner(journal.step("cycle"), HOUR, live=live)
    stop_when(runner, lambda: journal.count("head end") >= 3)

    assert runner.run_forever() == 0
    assert journal.count("cycle end") == 1
    assert journal.count("live end") == 0  # nothing heard, nothing applied
    assert runner.head_checks_run >= 3
    assert not journal.overlapped()


def test_a_failing_listener_never_stops_the_cycles(tmp_path: Path) -> None:
    journal = Journal()
    failures = [0]

    def broken_wait(stop: threading.Event) -> bool:
        failures[0] += 1
        raise RuntimeError("listener bug")

    live = LiveHooks(wait=broken_wait, apply=journal.step("live"))
    runner = Runner(journal.step("cycle"), Schedule(interval_seconds=0.1, jitter_seconds=0), live=live)
    stop_when(runner, lambda: journal.count("cycle end") >= 3)

    assert runner.run_forever() == 0
    assert failures[0] == 1  # it pauses after a failure instead of spinning
    assert journal.count("live end") == 0
