"""Long actions started from the dashboard (a sync, share-all, undo, a login, the checks), run in a thread.

A `Job` collects the session's progress events (agent/sync/progress.py) as counters per stage, which the
page polls and shows while the action runs, and keeps the result or the error for the page to show after.
One action that changes the store runs at a time per dashboard (`Jobs.start` hands back the running one);
across processes the data dir's cycle lock decides, and losing it (`CycleBusy`) ends the job as "busy",
which the page says kindly. A login job can stop and wait for a one-time code typed into the page.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from agent.errors import AgentError, CycleBusy
from agent.log import redact
from agent.sync.progress import Progress

logger = logging.getLogger(__name__)

CODE_WAIT_SECONDS = 10 * 60  # how long a login waits for the seller to type the one-time code
KEEP_FINISHED = 30  # finished jobs kept for their pages

STAGE_LABELS = {
    "blacklist": "Blacklist entries read",
    "orders": "Orders read",
    "push": "Reports pushed to the hub",
    "pull": "Shared-list changes pulled",
    "retract": "Entries retracted",
    "add": "Buyers added",
    "share": "Reports pushed to the hub",
    "undo": "Entries undone",
    "pages": "Pages read",
}


@dataclass(slots=True)
class Counter:
    label: str
    done: int
    total: int | None
    message: str

    @property
    def percent(self) -> int | None:
        if not self.total:
            return None
        return max(0, min(100, round(100 * self.done / self.total)))


@dataclass
class Job:
    """One action in a worker thread, as the page sees it."""

    id: str
    kind: str
    title: str
    back: str  # where the page offers to go when the job is done
    state: str = "running"  # running | waiting-for-code | done | failed | busy
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    finished_at: datetime | None = None
    counters: dict[str, Counter] = field(default_factory=dict)
    result: Any = None
    error: str | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    _code: str | None = None
    _code_given: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def running(self) -> bool:
        return self.state in ("running", "waiting-for-code")

    def progress(self, event: Progress) -> None:
        """A `ProgressSink`: keep the latest counter per stage (cheap, never raises)."""
        label = STAGE_LABELS.get(event.stage, event.stage.replace("_", " ").capitalize())
        with self._lock:
            self.counters[event.stage] = Counter(label, event.done, event.total, event.message)

    def counter_list(self) -> list[Counter]:
        with self._lock:
            return list(self.counters.values())

    # -- a one-time code typed into the page ------------------------------------------------------

    def ask_code(self) -> str:
        """The login's `otp_prompt`: wait (in the login's thread) until the page gives the code."""
        self._code_given.clear()
        self.state = "waiting-for-code"
        given = self._code_given.wait(CODE_WAIT_SECONDS)
        self.state = "running"
        if not given or self.stop.is_set():
            return ""  # the driver then stops with LoginNeedsHuman("no one-time code was entered")
        code, self._code = self._code or "", None
        return code

    def give_code(self, code: str) -> bool:
        """The code the seller typed; False when the login is not waiting for one."""
        if self.state != "waiting-for-code":
            return False
        self._code = code.strip()
        self.state = "running"  # before waking the login, so the next poll shows progress, not the form
        self._code_given.set()
        return True


class Jobs:
    """The dashboard's jobs: at most one running at a time."""

    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def running(self) -> Job | None:
        with self._lock:
            return next((j for j in self._jobs.values() if j.running), None)

    def latest(self, kind: str) -> Job | None:
        with self._lock:
            found = [j for j in self._jobs.values() if j.kind == kind]
        return found[-1] if found else None

    def start(
        self, kind: str, title: str, work: Callable[[Job], Any], *, back: str = "/"
    ) -> tuple[Job, bool]:
        """Run `work(job)` in a thread; returns (job, True), or (the running job, False) when one runs."""
        with self._lock:
            busy = next((j for j in self._jobs.values() if j.running), None)
            if busy is not None:
                return busy, False
            job = Job(secrets.token_hex(8), kind, title, back)
            self._jobs[job.id] = job
            self._prune()
        thread = threading.Thread(target=self._run, args=(job, work), name=f"ui-{kind}", daemon=True)
        thread.start()
        return job, True

    def stop_all(self) -> None:
        """Ask every running job to finish its current action and stop (the dashboard is closing)."""
        with self._lock:
            for job in self._jobs.values():
                job.stop.set()
                job._code_given.set()

    def _prune(self) -> None:
        finished = [j for j in self._jobs.values() if not j.running]
        for job in finished[:-KEEP_FINISHED]:
            del self._jobs[job.id]

    @staticmethod
    def _run(job: Job, work: Callable[[Job], Any]) -> None:
        try:
            job.result = work(job)
            job.state = "done"
        except CycleBusy as exc:
            job.state, job.error = "busy", str(exc)
        except AgentError as exc:
            logger.info("dashboard job %s failed: %s", job.kind, exc, exc_info=exc)
            job.state, job.error = "failed", redact(str(exc))
        except Exception as exc:  # the page must say what happened instead of spinning forever
            logger.exception("dashboard job %s failed unexpectedly", job.kind)
            job.state, job.error = "failed", redact(f"unexpected {type(exc).__name__}: {exc}")
        finally:
            job.finished_at = datetime.now(UTC)
