"""The tray icon: *Open dashboard*, *Sync now* and *Quit*, on a desktop that has a tray.

pystray draws the icon in the platform's own tray (the Windows notification area, the macOS menu bar, an X11
or AppIndicator tray on Linux). Where there is none (a headless machine, a server, a desktop session without
a tray host) `blacklist-agent ui` says why once and serves the dashboard alone: the icon is a convenience,
never a condition. The menu's actions are plain methods over the running `DashboardServer` (`TrayActions`),
so they behave the same whether a seller clicks them in the tray or a test calls them.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import webbrowser
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from agent.ui.server import DashboardServer

if TYPE_CHECKING:
    from PIL.Image import Image

    from agent.ui.jobs import Job

logger = logging.getLogger(__name__)

TITLE = "Blacklist agent"


def tray_problem() -> str | None:
    """Why no tray icon can be shown here, or None when this desktop may have a tray."""
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        return "no desktop session here (neither DISPLAY nor WAYLAND_DISPLAY is set)"
    try:
        import pystray  # noqa: F401  (it picks the platform's backend when imported)
    except Exception as exc:  # ImportError, or Xlib's error for a display it cannot open
        return f"this desktop offers no tray to pystray ({type(exc).__name__}: {exc})"
    return None


class TrayActions:
    """What the tray's menu items do, over a running dashboard."""

    def __init__(
        self, server: DashboardServer, *, open_url: Callable[[str], object] = webbrowser.open
    ) -> None:
        self.server = server
        self._open_url = open_url

    def open_dashboard(self) -> None:
        """Open the dashboard in the default browser, with a fresh one-time link."""
        self._open_url(self.server.open_link())

    def sync_now(self) -> Job:
        """Start a sync (as the dashboard's *Sync now* does); the job already running when one is."""
        job, started = self.server.dashboard.start_sync(dry_run=False)
        if not started:
            logger.info("tray: %s is still running; not starting a sync", job.title)
        return job

    def quit(self) -> None:
        """Stop the dashboard (a job in progress finishes its current action first)."""
        self.server.stop()


def icon_image(size: int = 64) -> Image:
    """The tray picture: a shield with a bar across it (drawn, so the package ships no image file)."""
    from PIL import Image, ImageDraw

    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    s = size / 64
    shield = [
        (32 * s, 3 * s),
        (58 * s, 12 * s),
        (54 * s, 40 * s),
        (32 * s, 61 * s),
        (10 * s, 40 * s),
        (6 * s, 12 * s),
    ]
    draw.polygon(shield, fill=(176, 32, 40, 255), outline=(255, 255, 255, 255))
    draw.rectangle((17 * s, 28 * s, 47 * s, 36 * s), fill=(255, 255, 255, 255))
    return image


class Tray:
    """The icon and its menu. `run()` blocks until *Quit* (or `stop()`); `start()` runs it in a thread."""

    def __init__(self, actions: TrayActions) -> None:
        import pystray

        self.actions = actions
        self.shown = threading.Event()
        self.failure: str | None = None
        self.icon: Any = pystray.Icon(
            "blacklist-agent",
            icon_image(),
            TITLE,
            pystray.Menu(
                pystray.MenuItem("Open dashboard", self._on_open, default=True),
                pystray.MenuItem("Sync now", self._on_sync),
                pystray.MenuItem("Quit", self._on_quit),
            ),
        )

    def menu_labels(self) -> list[str]:
        return [str(item.text) for item in self.icon.menu.items]

    def click(self, label: str) -> None:
        """Choose a menu item as the seller would (pystray calls the item with the icon)."""
        item = next(item for item in self.icon.menu.items if item.text == label)
        item(self.icon)

    def run(self) -> None:
        self.icon.run(setup=self._setup)

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self._run_logged, name="tray", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self.icon.stop()
        self._take_down_x11_window()

    def _take_down_x11_window(self) -> None:
        """Destroy the X11 icon's window over a connection of our own.

        pystray's X11 icon, stopped from another thread than its own, queues the window's destruction on
        the connection its event thread is reading, and CI saw it not happen for 30 s: the icon stayed in
        the tray and the event thread ran on. Any client may destroy a window; the event thread then sees
        the DestroyNotify it waits for, and ends.
        """
        window = getattr(self.icon, "_window", None)
        if window is None or not type(self.icon).__module__.endswith("_xorg"):
            return
        try:
            from Xlib.display import Display

            display = Display()
            try:
                display.create_resource_object("window", window.id).destroy()
                display.sync()
            finally:
                display.close()
        except Exception:  # already gone (BadWindow), or the display is: nothing left to take down
            logger.debug("the tray icon's window was already gone")

    def _run_logged(self) -> None:
        try:
            self.run()
        except Exception as exc:  # the dashboard goes on without its icon
            self.failure = f"{type(exc).__name__}: {exc}"
            logger.warning("the tray icon stopped: %s; the dashboard goes on without it", self.failure)

    def _setup(self, icon: Any) -> None:
        try:
            icon.visible = True
        except Exception as exc:  # e.g. an X11 desktop without a tray host: pystray cannot dock
            self.failure = f"the desktop has no tray to show the icon in ({type(exc).__name__})"
            logger.warning("%s; the dashboard goes on without it", self.failure)
            icon.stop()
            return
        self.shown.set()

    def _on_open(self, icon: Any, item: Any) -> None:
        self.actions.open_dashboard()

    def _on_sync(self, icon: Any, item: Any) -> None:
        job = self.actions.sync_now()
        if icon.HAS_NOTIFICATION:
            icon.notify(f"{job.title} is running; the dashboard shows its progress.", TITLE)

    def _on_quit(self, icon: Any, item: Any) -> None:
        self.stop()
        self.actions.quit()
