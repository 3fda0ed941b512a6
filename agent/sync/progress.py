"""Progress of long work (a cycle, share-all, undo), as plain events any front can show.

The CLI draws a progress bar on a terminal (plain lines otherwise), the dashboard streams the events to the
page, the background agent logs them. A sink must be cheap and must not raise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Progress:
    """`stage` advanced to `done` of `total` (None: unknown); `message` says it in words."""

    stage: str  # blacklist | orders | push | pull | retract | add | share | undo
    done: int
    total: int | None = None
    message: str = ""


ProgressSink = Callable[[Progress], None]
