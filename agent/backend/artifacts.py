"""Save what the driver saw when something went wrong: the page's HTML and a screenshot.

Pages read without a browser page (`context.request`) have no screenshot of their own, so their HTML is
rendered into a scratch page with `set_content` (scripts and network off) for one. Saving never raises:
a failure to save must not hide the failure being reported.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from pathlib import Path

from playwright.async_api import BrowserContext, Page

from agent.errors import BackendError
from agent.paths import private_dir, private_file

logger = logging.getLogger(__name__)
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


class ArtifactStore:
    def __init__(self, directory: Path, context: BrowserContext | None = None) -> None:
        self.directory = directory
        self.context = context

    async def save(self, label: str, *, html: str | None = None, page: Page | None = None) -> list[Path]:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%f")
        base = self.directory / f"{stamp}-{_UNSAFE.sub('_', label)[:80]}"
        saved: list[Path] = []
        try:
            private_dir(self.directory)
            if html is None and page is not None and not page.is_closed():
                html = await page.content()
            if html is not None:
                html_path = base.with_suffix(".html")
                private_file(html_path).write_text(html, encoding="utf-8")  # owner-only: buyer names
                saved.append(html_path)
            png_path = base.with_suffix(".png")
            if page is not None and not page.is_closed():
                await page.screenshot(path=str(private_file(png_path)), full_page=True, timeout=10_000)
                saved.append(png_path)
            elif html is not None and self.context is not None:
                await self._render(html, png_path)
                saved.append(png_path)
        except Exception:  # a broken artifact must not mask the real failure
            logger.warning("could not save all artifacts for %s", label, exc_info=True)
        return saved

    async def _render(self, html: str, png_path: Path) -> None:
        assert self.context is not None
        scratch = await self.context.new_page()
        try:
            await scratch.route("**/*", lambda route: route.abort())
            await scratch.set_content(html, wait_until="domcontentloaded", timeout=10_000)
            await scratch.screenshot(path=str(private_file(png_path)), full_page=True, timeout=10_000)
        finally:
            await scratch.close()

    async def attach(self, exc: BackendError, *, html: str | None = None, page: Page | None = None) -> None:
        """Save artifacts for `exc` once and record their paths on it (and in the log)."""
        if exc.artifacts:
            return
        label = "-".join(p for p in (exc.page or "backend", getattr(exc, "selector_name", None)) if p)
        exc.artifacts.extend(await self.save(label, html=html, page=page))
        logger.error("backend failure: %s", exc)
