"""The background agent: runs the sync cycle on a schedule, one instance per data dir.

`Runner` owns the *when* (APScheduler 3 interval with jitter, first cycle at start, coalescing, one cycle at
a time, a grace period for missed runs), the *how long* (a hard time limit per cycle) and the *how to stop*
(SIGINT/SIGTERM finish the current action); the cycle itself is an injected callable, so the runner is tested
with a real scheduler and a small real cycle, and the CLI injects the sync engine.

Live protection (`LiveHooks`): between cycles a listener thread keeps one long-poll wait open on the hub
(`wait`); when it says entries changed, the apply-only step runs a debounce later, and a head check runs
every `head_check_seconds`. Both go through the same one-worker executor as the cycles (so nothing ever
runs beside a cycle), with the same time limit, stop handling and "a human must log in" pause.

Why the hard limit ends the process: a Python thread cannot be killed. A cycle stuck in the browser or the
network would hold the instance lock and silently stop protecting the store. So the cycle is first asked to
stop cooperatively (it checks its stop event between actions and saves state); if it still has not returned
after a grace period the process exits non-zero, and the service manager (systemd `Restart=on-failure`,
launchd `KeepAlive`, Task Scheduler restart) starts a clean one. That is safe because the sync engine records
every intent before acting (the same guarantee that makes a SIGKILL safe, tested end to end).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

import filelock
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import ConflictingIdError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import SchedulerNotRunningError
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from agent.errors import AgentError, AlreadyRunning, LoginNeedsHuman

logger = logging.getLogger(__name__)

CycleFn = Callable[[threading.Event], bool]
"""One sync cycle. It is given a stop event to check between actions (set on SIGINT/SIGTERM or when the
cycle runs over its time limit) and returns True when everything succeeded, False on a partial success.
It raises on failure (`LoginNeedsHuman` when a human must log in)."""

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_ALREADY_RUNNING = 2
EXIT_INTERRUPTED = 130  # a second Ctrl+C: stop now, like a shell would


@dataclass(frozen=True, slots=True)
class LiveHooks:
    """What `run` does between cycles (see agent.sync.live); each step is a CycleFn like the cycle."""

    wait: Callable[[threading.Event], bool] | None  # one long-poll wait: True when entries changed
    apply: CycleFn  # the apply-only step
    head_check: CycleFn | None = None
    head_check_seconds: float = 0  # 0: no head checks
    debounce_seconds: float = 2.0  # changes arriving together are applied together


@dataclass(frozen=True, slots=True)
class Schedule:
    """When cycles run and how long they may take (seconds, so tests can use tiny values)."""

    interval_seconds: float = 15 * 60
    jitter_seconds: float = 120
    max_cycle_seconds: float = 30 * 60
    misfire_grace_seconds: int = 600
    stop_grace_seconds: float = 120  # time to finish the current action after a stop request

    @classmethod
    def from_settings(cls, settings: Any) -> Schedule:
        """Build from `Settings.schedule` (interval and limit in minutes there)."""
        s = settings.schedule
        return cls(
            interval_seconds=s.interval_minutes * 60,
            jitter_seconds=s.jitter_seconds,
            max_cycle_seconds=s.max_cycle_minutes * 60,
            misfire_grace_seconds=s.misfire_grace_seconds,
        )


class InstanceLock:
    """An OS file lock in the data dir (released by the OS even on SIGKILL) plus a pid file for messages."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.lock_path = data_dir / "agent.lock"
        self.pid_path = data_dir / "agent.pid"
        self._lock = filelock.FileLock(self.lock_path, blocking=False, thread_local=False)

    def acquire(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire()
        except filelock.Timeout:
            raise AlreadyRunning(self.data_dir, self.holder_pid()) from None
        self.pid_path.write_text(f"{os.getpid()}\n", encoding="ascii")

    def release(self) -> None:
        if self._lock.is_locked:
            self.pid_path.unlink(missing_ok=True)
            self._lock.release()

    def holder_pid(self) -> int | None:
        try:
            return int(self.pid_path.read_text(encoding="ascii").strip())
        except (OSError, ValueError):
            return None

    def __enter__(self) -> InstanceLock:
        self.acquire()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Runner:
    """Runs `cycle` now and then every interval until asked to stop. Call from the main thread."""

    def __init__(
        self,
        cycle: CycleFn,
        schedule: Schedule,
        *,
        on_next_run: Callable[[datetime | None], None] | None = None,
        session_path: Path | None = None,
        hard_exit: Callable[[int], None] = os._exit,
        live: LiveHooks | None = None,
    ) -> None:
        self._cycle = cycle
        self._live = live
        self._listener: threading.Thread | None = None
        self.live_steps_run = 0
        self.head_checks_run = 0
        self._schedule = schedule
        self._on_next_run = on_next_run
        self._session_path = session_path
        self._hard_exit = hard_exit
        self._stop = threading.Event()
        self._stop_requests = 0
        self._guard = threading.Lock()
        self._cycle_stop: threading.Event | None = None
        self._cycle_started: float | None = None
        self._limit_hit = False
        self._gave_up = False
        self._idle = threading.Event()
        self._idle.set()
        self._waiting_for_login: float | None = None  # session file mtime when a human login was asked for
        self._scheduler: BackgroundScheduler | None = None
        self.cycles_run = 0
        self.last_exit_code = EXIT_OK

    # -- stopping ----------------------------------------------------------------------------------

    def request_stop(self, reason: str = "stop requested") -> None:
        """Finish the current action, then stop (signal handlers call this). A second request forces it."""
        self._stop_requests += 1
        if self._stop_requests > 1:
            logger.warning("second stop request (%s): exiting now without waiting for the cycle", reason)
            self._hard_exit(EXIT_INTERRUPTED)
            return
        logger.info("%s: finishing the current action, then stopping", reason)
        self._stop.set()
        with self._guard:
            if self._cycle_stop is not None:
                self._cycle_stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    # -- running -----------------------------------------------------------------------------------

    def run_once(self) -> int:
        """One cycle under the same time limit and stop handling; returns the exit code."""
        worker = threading.Thread(target=self._run_cycle, name="sync-cycle", daemon=True)
        worker.start()
        while worker.is_alive() and not self._gave_up:
            worker.join(timeout=0.2)
            self._enforce_time_limit()
            if self._stop.is_set() and not self._idle.wait(self._schedule.stop_grace_seconds):
                self._give_up("did not stop within %.0f s of the stop request")
        return EXIT_FAILURE if self._gave_up else self.last_exit_code

    def run_forever(self) -> int:
        """Schedule cycles until a stop request; returns the exit code (0 after a clean stop)."""
        scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(max_workers=1)},
            timezone=UTC,
        )
        scheduler.add_job(
            self._scheduled_cycle,
            IntervalTrigger(
                seconds=self._schedule.interval_seconds, jitter=self._schedule.jitter_seconds or None
            ),
            id="sync",
            name="sync cycle",
            next_run_time=_utcnow(),  # the first cycle runs at start, not one interval later
            coalesce=True,  # after a sleep or a long cycle, run once, not once per missed slot
            max_instances=1,
            misfire_grace_time=self._schedule.misfire_grace_seconds,
        )
        self._scheduler = scheduler
        live = self._live
        if live is not None and live.head_check is not None and live.head_check_seconds > 0:
            scheduler.add_job(
                self._scheduled_step,
                IntervalTrigger(seconds=live.head_check_seconds),
                args=(live.head_check, "head check"),
                id="head",
                name="head check",
                coalesce=True,
                max_instances=1,
                misfire_grace_time=max(1, int(live.head_check_seconds)),
            )
        scheduler.start()
        logger.info(
            "agent running: a sync cycle every %s (jitter up to %.0f s), time limit %s per cycle",
            _duration(self._schedule.interval_seconds),
            self._schedule.jitter_seconds,
            _duration(self._schedule.max_cycle_seconds),
        )

        try:
            while not self._stop.wait(0.2):
                self._enforce_time_limit()
            # Stop scheduling new cycles; the running one (if any) finishes its current action.
            scheduler.shutdown(wait=False)
            if not self._gave_up and not self._idle.wait(self._schedule.stop_grace_seconds):
                self._give_up("did not stop within %.0f s of the stop request")
        finally:
            if scheduler.running:
                scheduler.shutdown(wait=False)
            self._report_next_run(running=False)
            if self._listener is not None:
                self._listener.join(timeout=1)  # a daemon thread: a wait in flight ends with the process
        logger.info("agent stopped after %d cycle(s)", self.cycles_run)
        return EXIT_FAILURE if self._gave_up else EXIT_OK

    def _scheduled_cycle(self) -> None:
        if self._stop.is_set():
            return
        if self._login_still_needed():
            logger.warning(
                "skipping this cycle: the backend still needs a human login "
                "(run `blacklist-agent login --interactive`; the agent resumes on its own afterwards)"
            )
            self._report_next_run(running=True)
            return
        refusal = self._login_refused()
        if refusal:
            # No browser, no request: the next login would try a password the backend refused.
            logger.warning("skipping this cycle: %s", refusal)
            self._report_next_run(running=True)
            return
        self._run_cycle()
        self._report_next_run(running=True)
        self._start_listening()

    def _start_listening(self) -> None:
        """Start listening after the first cycle: it creates the state and pulls the list to wait from."""
        live = self._live
        if live is None or live.wait is None or self._listener is not None or self._stop.is_set():
            return
        self._listener = threading.Thread(target=self._listen, args=(live.wait,), name="hub-listener")
        self._listener.daemon = True
        self._listener.start()
        logger.info("listening to the hub for changes between cycles")

    # -- live protection ---------------------------------------------------------------------------

    def _listen(self, wait: Callable[[threading.Event], bool]) -> None:
        """The listener thread: one wait after another; a change schedules the apply-only step."""
        while not self._stop.is_set():
            try:
                changed = wait(self._stop)
            except Exception:  # the listener must outlive any surprise: the cycles still run
                logger.exception("listening to the hub failed; trying again in 30 s")
                self._stop.wait(30)
                continue
            if changed and not self._stop.is_set():
                self._schedule_apply()

    def _schedule_apply(self) -> None:
        scheduler, live = self._scheduler, self._live
        if scheduler is None or live is None or not scheduler.running:
            return
        if scheduler.get_job("live") is not None:
            return  # one is due within the debounce: it pulls these changes too
        run_at = _utcnow() + timedelta(seconds=live.debounce_seconds)
        try:
            scheduler.add_job(
                self._scheduled_step,
                DateTrigger(run_date=run_at),
                args=(live.apply, "live step"),
                id="live",
                name="apply-only step",
                misfire_grace_time=None,  # late (behind a cycle) is still worth doing
            )
        except ConflictingIdError:
            return
        except SchedulerNotRunningError:
            return

    def _scheduled_step(self, step: CycleFn, label: str) -> None:
        if self._stop.is_set() or self._login_still_needed():
            return
        if label == "head check":
            self.head_checks_run += 1
        else:
            self.live_steps_run += 1
        self._run_cycle(step, label)

    def _run_cycle(self, step: CycleFn | None = None, label: str = "sync cycle") -> None:
        cycle_stop = threading.Event()
        with self._guard:
            self._cycle_stop = cycle_stop
            self._cycle_started = time.monotonic()
            self._limit_hit = False
            self._idle.clear()
        if self._stop.is_set():
            cycle_stop.set()
        if step is not None:
            self._run_step(step, label, cycle_stop)
            return
        self.cycles_run += 1
        logger.info("sync cycle %d starting", self.cycles_run)
        code = EXIT_FAILURE
        try:
            ok = self._cycle(cycle_stop)
            if self._limit_hit:
                logger.error(
                    "sync cycle %d stopped at its time limit; the rest waits for the next cycle",
                    self.cycles_run,
                )
            elif ok:
                code = EXIT_OK
                logger.info("sync cycle %d done", self.cycles_run)
            else:
                logger.warning(
                    "sync cycle %d partly failed (see above); the next cycle retries", self.cycles_run
                )
        except LoginNeedsHuman as exc:
            self._waiting_for_login = self._session_mtime()
            # The error says what to run; no retry loop: repeated attempts could lock the account or
            # send the seller a code every cycle.
            logger.error(
                "sync cycle %d needs a human: %s. No login is attempted again until a new session is saved.",
                self.cycles_run,
                exc,
            )
        except AgentError as exc:
            logger.error("sync cycle %d failed: %s", self.cycles_run, exc)
        except Exception:
            logger.exception("sync cycle %d failed unexpectedly", self.cycles_run)
        finally:
            self.last_exit_code = code
            with self._guard:
                self._cycle_stop = None
                self._cycle_started = None
                self._idle.set()

    def _run_step(self, step: CycleFn, label: str, step_stop: threading.Event) -> None:
        """A live step or head check: like a cycle, but its result leaves the exit code alone."""
        try:
            ok = step(step_stop)
            if not ok:
                logger.warning("%s partly failed (see above); the next cycle retries", label)
        except LoginNeedsHuman as exc:
            self._waiting_for_login = self._session_mtime()
            logger.error(
                "%s needs a human: %s. No login is attempted again until a new session is saved.", label, exc
            )
        except AgentError as exc:
            logger.error("%s failed: %s", label, exc)
        except Exception:
            logger.exception("%s failed unexpectedly", label)
        finally:
            with self._guard:
                self._cycle_stop = None
                self._cycle_started = None
                self._idle.set()

    # -- limits ------------------------------------------------------------------------------------

    def _enforce_time_limit(self) -> None:
        with self._guard:
            started, cycle_stop = self._cycle_started, self._cycle_stop
        if started is None or cycle_stop is None:
            return
        elapsed = time.monotonic() - started
        limit = self._schedule.max_cycle_seconds
        if elapsed > limit and not self._limit_hit:
            self._limit_hit = True
            logger.warning("sync cycle ran over its %s limit: asking it to stop", _duration(limit))
            cycle_stop.set()
        if elapsed > limit + self._schedule.stop_grace_seconds:
            self._give_up("ran over its time limit and did not stop within %.0f s")

    def _give_up(self, why: str) -> None:
        if self._gave_up:
            return
        self._gave_up = True
        logger.critical(
            "the sync cycle " + why + "; exiting so the service manager can restart a clean agent",
            self._schedule.stop_grace_seconds,
        )
        self._hard_exit(EXIT_FAILURE)
        self._stop.set()  # only reached when hard_exit was replaced (tests)

    # -- waiting for a human -----------------------------------------------------------------------

    def _session_mtime(self) -> float:
        if self._session_path is None:
            return 0.0
        try:
            return self._session_path.stat().st_mtime
        except OSError:
            return 0.0

    def _login_refused(self) -> str | None:
        """What the backend refused, while a refused login is on record (see agent.backend.login_guard)."""
        if self._session_path is None:
            return None
        from agent.backend.login_guard import LoginGuard  # no Playwright import: only the state file

        refusal = LoginGuard(self._session_path).refusal()
        return refusal.describe() if refusal is not None else None

    def _login_still_needed(self) -> bool:
        """True until the session file changes (the seller ran `login --interactive`): no retry loop."""
        if self._waiting_for_login is None:
            return False
        if self._session_mtime() != self._waiting_for_login:
            logger.info("a new backend session was saved: resuming sync cycles")
            self._waiting_for_login = None
            return False
        return True

    # -- telling `blacklist-agent status` when the next cycle runs -----------------------------------

    def _report_next_run(self, *, running: bool) -> None:
        if self._on_next_run is None:
            return
        when: datetime | None = None
        if running and self._scheduler is not None and self._scheduler.running:
            job = self._scheduler.get_job("sync")
            if job is not None and job.next_run_time is not None:
                when = job.next_run_time.astimezone(UTC)
        try:
            self._on_next_run(when)
        except Exception:  # status is a convenience: never let it stop the agent
            logger.warning("could not record the next run time", exc_info=True)


def _duration(seconds: float) -> str:
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)} min"
    return f"{seconds:g} s"


def install_signal_handlers(runner: Runner) -> Callable[[], None]:
    """Route SIGINT/SIGTERM (and SIGBREAK on Windows) to `runner.request_stop`; returns an undo function."""
    previous: dict[int, Any] = {}

    def handler(signum: int, _frame: object) -> None:
        runner.request_stop(f"received {signal.Signals(signum).name}")

    for name in ("SIGINT", "SIGTERM", "SIGBREAK"):
        signum = getattr(signal, name, None)
        if signum is not None:
            previous[signum] = signal.signal(signum, handler)

    def restore() -> None:
        for signum, old in previous.items():
            signal.signal(signum, old)

    return restore
