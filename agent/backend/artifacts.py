"""Save what the driver saw when something went wrong: the page's HTML and a screenshot.

A failure's files may show the seller's customers, so they are written owner-only (0600, in a 0700
folder) and only the newest `keep` failures are kept (`browser.artifacts_keep`). Pages read without a
browser page have no screenshot of their own; when a browser already runs, their HTML is rendered into a
scratch page with `set_content` (scripts and network off) for one. No browser is started just for a
screenshot: the HTML is what says what changed. Saving never raises: a failure to save must not hide the
failure being reported.
"""

from __future__ import annotations

import logging
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from playwright.async_api import BrowserContext, Page

from agent.errors import BackendError

logger = logging.getLogger(__name__)
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
SUFFIXES = (".html", ".png")
DEFAULT_KEEP = 50


class BrowserSource(Protocol):
    @property
    def launched_context(self) -> BrowserContext | None: ...


class ArtifactStore:
    def __init__(
        self, directory: Path, browser: BrowserSource | None = None, *, keep: int = DEFAULT_KEEP
    ) -> None:
        self.directory = directory
        self.browser = browser
        self.keep = keep

    async def save(self, label: str, *, html: str | None = None, page: Page | None = None) -> list[Path]:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%f")
        base = self.directory / f"{stamp}-{_UNSAFE.sub('_', label)[:80]}"
        saved: list[Path] = []
        try:
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.chmod(self.directory, 0o700)
            if html is None and page is not None and not page.is_closed():
                html = await page.content()
            if html is not None:
                html_path = base.parent / f"{base.name}.html"  # (with_suffix would eat the stamp's fraction)
                _write_private(html_path, html.encode("utf-8"))
                saved.append(html_path)
            png_path = base.parent / f"{base.name}.png"
            shot: bytes | None = None
            if page is not None and not page.is_closed():
                shot = await page.screenshot(full_page=True, timeout=10_000)
            elif html is not None:
                shot = await self._render(html)
            if shot is not None:
                _write_private(png_path, shot)
                saved.append(png_path)
        except Exception:  # a broken artifact must not mask the real failure
            logger.warning("could not save all artifacts for %s", label, exc_info=True)
        self.prune()
        return saved

    async def _render(self, html: str) -> bytes | None:
        context = self.browser.launched_context if self.browser is not None else None
        if context is None:
            return None
        scratch = await context.new_page()
        try:
            await scratch.route("**/*", lambda route: route.abort())
            await scratch.set_content(html, wait_until="domcontentloaded", timeout=10_000)
            return await scratch.screenshot(full_page=True, timeout=10_000)
        finally:
            await scratch.close()

    def prune(self) -> list[Path]:
        """Delete all but the newest `keep` failures (a failure = the files sharing one name stem)."""
        try:
            files = [p for p in self.directory.iterdir() if p.suffix in SUFFIXES and p.is_file()]
        except OSError:
            return []
        stems = sorted({p.stem for p in files}, reverse=True)  # names start with a UTC time stamp
        doomed = set(stems[self.keep :])
        removed = []
        for path in files:
            if path.stem in doomed:
                try:
                    path.unlink()
                    removed.append(path)
                except OSError:
                    logger.warning("could not delete old artifact %s", path)
        return removed

    async def attach(self, exc: BackendError, *, html: str | None = None, page: Page | None = None) -> None:
        """Save artifacts for `exc` once and record their paths on it (and in the log)."""
        if exc.artifacts:
            return
        label = "-".join(p for p in (exc.page or "backend", getattr(exc, "selector_name", None)) if p)
        exc.artifacts.extend(await self.save(label, html=html, page=page))
        logger.error("backend failure: %s", exc)


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(path, 0o600)  # O_CREAT's mode does not apply to a file that already existed
