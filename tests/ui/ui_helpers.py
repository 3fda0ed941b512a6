"""Helpers of the dashboard's tests: a dashboard served in this process, screenshots, accessible names."""

from __future__ import annotations

import os
from pathlib import Path

from playwright.sync_api import Page

from agent.ui import Dashboard, DashboardServer

SCREENSHOTS_ENV = "BLACKLIST_UI_SCREENSHOTS"
"""Set to a folder (e.g. `docs`) to save each page's screenshot there as ui-<page>.png."""


class Ui:
    """One dashboard for one config file, served in this process (its jobs run in this process too)."""

    def __init__(self, config_path: Path) -> None:
        self.dashboard = Dashboard(config_path)
        self.server = DashboardServer(self.dashboard).start()

    @property
    def url(self) -> str:
        return self.server.url

    def open(self, page: Page, path: str = "/") -> Page:
        """Give `page`'s browser a session through a one-time link, then show `path`."""
        page.goto(self.server.open_link())
        if path != "/":
            page.goto(self.url + path)
        return page

    def close(self) -> None:
        self.server.stop()


def screenshot(page: Page, name: str, tmp_path: Path) -> Path:
    """A full-page screenshot in the test's folder, and in $BLACKLIST_UI_SCREENSHOTS when set."""
    folder = Path(os.environ.get(SCREENSHOTS_ENV) or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"ui-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


# Every control a seller can reach must have an accessible name (a label, its text, or aria-label).
UNNAMED_CONTROLS_JS = """
() => {
  const named = (el) => {
    if ((el.getAttribute('aria-label') || '').trim()) return true;
    if (el.labels && el.labels.length && [...el.labels].some(l => l.textContent.trim())) return true;
    if (['A', 'BUTTON', 'SUMMARY'].includes(el.tagName)) return el.textContent.trim() !== '';
    return false;
  };
  const selector = 'a[href], button, input:not([type=hidden]), select, textarea, summary';
  const controls = document.querySelectorAll(selector);
  return [...controls]
    .filter(el => !el.hidden && el.getAttribute('aria-hidden') !== 'true' && !named(el))
    .map(el => el.outerHTML.slice(0, 120));
}
"""


def unnamed_controls(page: Page) -> list[str]:
    result = page.evaluate(UNNAMED_CONTROLS_JS)
    assert isinstance(result, list)
    return [str(x) for x in result]
