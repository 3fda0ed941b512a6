"""Pages the driver renders in its browser never fetch images or fonts; an ordinary browser page does.

Every mock page shows a logo and text in a web font; the mock counts each request per path
(`GET /__mock__/requests`), so what the browser really fetched is read from the server's side.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from backend_helpers import OpenStore
from playwright.sync_api import Page

from fixtures.mock_backend.testing import MockControl

LOGO, FONT = "/static/shared/logo.png", "/static/shared/brand.woff"


def fetched_while(mock: MockControl, action: Callable[[], object]) -> Counter[str]:
    """The requests the mock received while `action()` ran, per path."""
    before = Counter(mock.requests())
    action()
    return Counter(mock.requests()) - before


@pytest.mark.parametrize("layout", ["v1", "v2"])
def test_an_ordinary_browser_page_fetches_the_logo_and_the_font(
    page: Page, mock_backend: MockControl, layout: str
) -> None:
    mock_backend.set_faults(layout=layout)

    def visit() -> None:
        page.goto(f"{mock_backend.url}/login")
        page.evaluate("document.fonts.ready.then(() => true)")

    fetched = fetched_while(mock_backend, visit)
    assert fetched[LOGO] >= 1
    assert fetched[FONT] >= 1


def test_the_drivers_login_page_fetches_neither_logo_nor_font(
    open_store: OpenStore, mock_backend: MockControl
) -> None:
    driver = open_store()  # a fresh data dir: no saved session, so it logs in through the browser

    fetched = fetched_while(mock_backend, driver.ensure_session)

    assert fetched["/login"] >= 1  # the page was rendered, stylesheet and all...
    assert fetched["/static/v1/site.css"] >= 1
    assert (fetched[LOGO], fetched[FONT]) == (0, 0)  # ...but without its logo and font


def test_the_browser_fallback_fetches_neither_logo_nor_font(
    open_store: OpenStore, mock_backend: MockControl, tmp_path: Path
) -> None:
    override = tmp_path / "local.toml"
    override.write_text('[pages.customers]\nstrategy = "browser"\n', encoding="utf-8")
    mock_backend.set_faults(layout="v2")  # tables rendered by JavaScript: only a real page can read them
    driver = open_store(selectors="mock-v2", selectors_override=str(override))

    fetched = fetched_while(mock_backend, lambda: list(driver.read_customers()))

    assert fetched["/customers"] >= 1  # the page was rendered, script and all...
    assert fetched["/static/v2/grid.js"] >= 1
    assert (fetched[LOGO], fetched[FONT]) == (0, 0)  # ...but without its logo and font
