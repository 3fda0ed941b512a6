"""Progress of long work on the console: a rich progress bar on a terminal, plain lines otherwise.

A first `sync` or a `share-all` over a large blacklist takes minutes; the seller must see it move. The
session's progress events (`agent.sync.progress.Progress`) drive the view: one line per stage (reading the
blacklist, pushing, adding...), with counters. Piped output (a log, CI) gets one plain line when a stage
starts and ends and at each tenth of its total, never a line per buyer.
"""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichProgress

from agent.sync.progress import Progress

STAGES = {
    "login": "Logging in to your store",
    "blacklist": "Reading your blacklist",
    "orders": "Reading new orders",
    "push": "Pushing your changes to the hub",
    "pull": "Pulling the shared list",
    "retract": "Removing entries that no longer pass your policy",
    "add": "Blacklisting buyers from the shared list",
    "share": "Pushing your blacklist to the hub",
    "undo": "Undoing the agent's entries",
}
_STEPS = 10  # plain lines per stage at most, besides its start and end
_UNKNOWN_TOTAL_EVERY = 100


def stage_label(stage: str) -> str:
    return STAGES.get(stage, stage.capitalize())


class ProgressView:
    """A progress sink for `AgentSession` actions, used as a context manager around the action."""

    def __init__(self, console: Console, *, enabled: bool = True) -> None:
        self._console = console
        self._enabled = enabled
        self._live = console.is_terminal and enabled
        self._bar: RichProgress | None = None
        self._tasks: dict[str, TaskID] = {}
        self._stage: str | None = None
        self._last_step = -1
        self._last_done: int | None = None

    def __enter__(self) -> ProgressView:
        if self._live:
            self._bar = RichProgress(
                SpinnerColumn(finished_text="[green]✓[/]"),
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=self._console,
                transient=False,
            )
            self._bar.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._bar is not None:
            if exc_type is None:
                for task in self._tasks.values():
                    self._finish(task)
            self._bar.stop()

    def __call__(self, event: Progress) -> None:
        """Show one event (a sink must not raise: a display problem never stops the work)."""
        if not self._enabled:
            return
        try:
            if self._bar is not None:
                self._show_live(event)
            else:
                self._show_plain(event)
        except Exception:  # a display problem never stops the work
            self._enabled = False

    # -- terminal ----------------------------------------------------------------------------------

    def _show_live(self, event: Progress) -> None:
        assert self._bar is not None
        description = stage_label(event.stage)
        task = self._tasks.get(event.stage)
        if task is None:
            for previous in self._tasks.values():  # stages run one after the other
                self._finish(previous)
            task = self._bar.add_task(description, total=event.total)
            self._tasks[event.stage] = task
        self._bar.update(task, completed=event.done, total=event.total, description=description)

    def _finish(self, task: TaskID) -> None:
        assert self._bar is not None
        state = next(t for t in self._bar.tasks if t.id == task)
        if not state.finished:
            total = state.total if state.total is not None else state.completed
            self._bar.update(task, total=total, completed=total)

    # -- plain lines -------------------------------------------------------------------------------

    def _show_plain(self, event: Progress) -> None:
        label = stage_label(event.stage)
        if event.stage != self._stage:
            self._stage, self._last_step, self._last_done = event.stage, -1, None
            if event.done == 0 and event.total is None:  # a stage starting: its total is not known yet
                self._line(f"{label}…")
                return
        if event.total:
            step = event.done * _STEPS // event.total  # the end (done == total) is a step of its own
            if step == self._last_step:
                return
            self._last_step = step
        elif self._last_done is not None and event.done - self._last_done < _UNKNOWN_TOTAL_EVERY:
            return
        self._last_done = event.done
        if event.total == 0:
            self._line(f"{label}: nothing to do")
        else:
            counted = f"{event.done} of {event.total}" if event.total is not None else str(event.done)
            self._line(f"{label}: {counted}")

    def _line(self, text: str) -> None:
        self._console.print(text, markup=False, highlight=False)
