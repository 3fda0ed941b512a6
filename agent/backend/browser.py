"""Find and launch the browser the driver runs in.

Resolution order: Playwright's own Chromium when it is installed, then `browser.executable`, then a system
Chromium (`$CHROMIUM_PATH`, `chromium`, `chromium-browser`, `google-chrome`), then an installed Chrome or
Edge through Playwright's `channel` (`browser.channel`, else "msedge" on Windows where every PC has Edge,
"chrome" elsewhere). One browser and one context per run; images, fonts and media are blocked by routing
because the agent only reads text and submits forms.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, BrowserContext, Playwright, Route, async_playwright

from agent.config import Settings
from agent.errors import ConfigError

logger = logging.getLogger(__name__)

LAUNCH_ARGS = [
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
BLOCKED_RESOURCES = frozenset({"image", "font", "media"})
SYSTEM_CHROMIUMS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FIXED_CHROMIUM_PATHS = (Path("/usr/bin/chromium"), Path("/usr/lib/chromium/chromium"))


@dataclass(frozen=True, slots=True)
class BrowserChoice:
    """Either an executable path or a Playwright channel; `origin` says why it was chosen."""

    executable: Path | None
    channel: str | None
    origin: str

    def describe(self) -> str:
        what = str(self.executable) if self.executable else f"channel {self.channel}"
        return f"{what} ({self.origin})"


def resolve_browser(settings: Settings, managed: Path) -> BrowserChoice:
    """Pick the browser; `managed` is where Playwright's own Chromium would be."""
    if managed.is_file():
        return BrowserChoice(managed, None, "Playwright-managed Chromium")
    configured = settings.browser.executable
    if configured is not None:
        if not configured.is_file():
            raise ConfigError(f"browser.executable {configured} does not exist", key="browser.executable")
        return BrowserChoice(configured, None, "browser.executable")
    system = find_system_chromium()
    if system is not None:
        return BrowserChoice(system, None, "system Chromium")
    channel = settings.browser.channel or ("msedge" if sys.platform == "win32" else "chrome")
    return BrowserChoice(
        None, channel, "browser.channel" if settings.browser.channel else "installed browser"
    )


def managed_chromium(playwright: Playwright) -> Path:
    return Path(playwright.chromium.executable_path)


def find_system_chromium() -> Path | None:
    env = os.environ.get("CHROMIUM_PATH")
    if env and Path(env).is_file():
        return Path(env)
    for name in SYSTEM_CHROMIUMS:
        found = shutil.which(name)
        if found:
            return Path(found)
    return next((path for path in FIXED_CHROMIUM_PATHS if path.is_file()), None)


def display_available() -> bool:
    """A headed browser can open: always on Windows/macOS, on Linux only with an X or Wayland display."""
    if not sys.platform.startswith("linux"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


async def launch(settings: Settings, playwright: Playwright, *, headless: bool) -> Browser:
    choice = resolve_browser(settings, managed_chromium(playwright))
    logger.info("launching %s, headless=%s", choice.describe(), headless)
    # The agent owns signal handling: Ctrl+C / SIGTERM ask the cycle to finish its current action, which
    # needs the browser alive. Playwright's default would close the browser under it at once.
    kwargs: dict[str, Any] = {
        "headless": headless,
        "args": LAUNCH_ARGS,
        "handle_sigint": False,
        "handle_sigterm": False,
        "handle_sighup": False,
    }
    if choice.executable is not None:
        kwargs["executable_path"] = str(choice.executable)
    else:
        kwargs["channel"] = choice.channel
    return await playwright.chromium.launch(**kwargs)


async def new_context(
    browser: Browser, settings: Settings, *, storage_state: Path | Mapping[str, Any] | None = None
) -> BrowserContext:
    state: Any = str(storage_state) if isinstance(storage_state, Path) else storage_state
    context = await browser.new_context(
        storage_state=state,
        base_url=settings.backend.base_url,
        service_workers="block",
    )
    context.set_default_timeout(settings.backend.timeout_seconds * 1000)
    context.set_default_navigation_timeout(settings.backend.timeout_seconds * 1000)
    if settings.browser.block_resources:
        await context.route("**/*", _block_heavy_resources)
    return context


async def _block_heavy_resources(route: Route) -> None:
    if route.request.resource_type in BLOCKED_RESOURCES:
        await route.abort()
    else:
        await route.fallback()


async def _launch_check(settings: Settings) -> str:
    async with async_playwright() as pw:
        choice = resolve_browser(settings, managed_chromium(pw))
        browser = await launch(settings, pw, headless=True)
        try:
            page = await browser.new_page()
            await page.set_content("<title>ok</title>")
            title = await page.title()
            if title != "ok":
                raise RuntimeError("the browser did not render a page")
            return f"{choice.describe()}, version {browser.version}"
        finally:
            await browser.close()


def launch_check(settings: Settings) -> str:
    """Launch the browser headless, render a page, close it; returns what ran (for `doctor`)."""
    from agent.backend.loop import run_sync

    return run_sync(_launch_check(settings))
