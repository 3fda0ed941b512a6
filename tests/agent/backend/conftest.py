"""Fixtures for the backend driver's tests: settings for one store of the shared mock backend, and drivers.

Every test here drives the real Chromium against the real mock backend over HTTP. Opening a driver starts a
browser (seconds on a busy machine), so tests share one driver per layout for the session (`backend`,
parametrised over the shipped mock layouts; the mock is reset after each test but its sessions survive);
tests that need their own settings or session use `open_store`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from backend_helpers import LAYOUTS, Drivers, OpenStore, store_settings

from agent.backend.driver import PlaywrightBackend, open_playwright_backend
from fixtures.mock_backend.testing import MockControl


@pytest.fixture
def open_store(mock_backend: MockControl, tmp_path: Path) -> Iterator[OpenStore]:
    """`open_store(store=, selectors=, password=, otp_prompt=, data_dir=, **backend settings)`."""
    opened: list[PlaywrightBackend] = []

    def open_(
        *,
        store: str = "store-a",
        password: str | None = None,
        otp_prompt: Callable[[], str] | None = None,
        data_dir: Path | None = None,
        **backend: Any,
    ) -> PlaywrightBackend:
        settings = store_settings(mock_backend, data_dir or tmp_path / "agent", store=store, **backend)
        driver = open_playwright_backend(
            settings, password=password or mock_backend.credentials(store)[1], otp_prompt=otp_prompt
        )
        opened.append(driver)
        return driver

    yield open_
    for driver in opened:
        driver.close()


@pytest.fixture(scope="session")
def drivers(mock_server: MockControl, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Drivers]:
    shared = Drivers(mock_server, tmp_path_factory.mktemp("agents"))
    yield shared
    for driver in shared.open.values():
        driver.close()


@pytest.fixture(params=LAYOUTS)
def backend(request: pytest.FixtureRequest, drivers: Drivers, mock_backend: MockControl) -> PlaywrightBackend:
    """A driver for store-a in each layout; the mock serves that layout (reset to v1 after the test)."""
    layout: str = request.param
    if layout != "v1":
        mock_backend.set_faults(layout=layout)
    return drivers.get(layout)
