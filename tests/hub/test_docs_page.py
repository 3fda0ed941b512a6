"""The hub's `/docs` page renders in a real Chromium with every request outside loopback blocked.

FastAPI's default page loads Swagger UI from a CDN and is blank offline; the hub serves the files itself
(`hub.docs_ui`). The page does not touch the database, so one SQLite hub is enough. The screenshot in
`docs/hub-docs.png` is refreshed by running this test with `HUB_DOCS_SCREENSHOT=docs/hub-docs.png`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, Route, expect

from hub.db import migrate
from hub.settings import HubSettings
from tests.hub.support import ServedHub

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
RENDER_MS = 60_000


@pytest.fixture
def docs_hub(tmp_path: Path) -> Iterator[ServedHub]:
    url = f"sqlite:///{tmp_path / 'hub.sqlite3'}"
    migrate(url)
    with ServedHub(HubSettings(database_url=url)) as hub:
        yield hub


@pytest.fixture
def offline(page: Page) -> list[str]:
    """Blocks (and records) every request that would leave the machine."""
    outside: list[str] = []

    def handle(route: Route) -> None:
        if urlsplit(route.request.url).hostname in LOOPBACK:
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", handle)
    return outside


def test_api_docs_render_without_internet(docs_hub: ServedHub, page: Page, offline: list[str]) -> None:
    page.goto(f"{docs_hub.url}/docs")
    # Generous bounds: Swagger UI is 1.5 MB of JavaScript, slow to start on a busy machine.
    title = page.get_by_role("heading", name=re.compile("^Blacklist sharing hub"))
    expect(title).to_be_visible(timeout=RENDER_MS)
    expect(page.locator(".opblock-summary-path[data-path='/v1/feed']")).to_be_visible(timeout=RENDER_MS)
    assert offline == []
    if target := os.environ.get("HUB_DOCS_SCREENSHOT"):
        page.set_viewport_size({"width": 1280, "height": 1100})
        page.screenshot(path=target)
