"""Fixtures of the dashboard's tests: the real mock backend (`mock_backend`), a real hub over HTTP and a
keyring file through the real keyring library (the end-to-end tests' `World`), and the dashboard served on
a loopback port, opened in real Chromium through its one-time link.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

# The end-to-end tests' world (hub, keyring file, agents' configs) serves these tests as it is.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
from e2e_world import World
from ui_helpers import Ui

from fixtures.mock_backend.testing import MockControl


@pytest.fixture(autouse=True)
def patient_expectations() -> Iterator[None]:
    # Waiting for a page to show something is not a timing claim: on a shared, loaded 2-core machine a page
    # that updates through htmx can take longer than Playwright's default 5 s. The actions themselves have
    # their own, longer, waits.
    expect.set_options(timeout=30_000)
    yield
    expect.set_options(timeout=None)


@pytest.fixture
def world(mock_backend: MockControl, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    # A background agent started from the dashboard is a subprocess: it must find the same keyring file,
    # and a service installed from it must land in this test's folder.
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyrings.alt.file.PlaintextKeyring")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    for name in ("BLACKLIST_AGENT_BACKEND_PASSWORD", "BLACKLIST_AGENT_HUB_TOKEN", "BLACKLIST_AGENT_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    world = World(mock_backend, tmp_path)
    try:
        yield world
    finally:
        world.close()


@pytest.fixture
def ui_for() -> Iterator[type[Ui]]:
    opened: list[Ui] = []

    class Opened(Ui):
        def __init__(self, config_path: Path) -> None:
            super().__init__(config_path)
            opened.append(self)

    yield Opened
    for ui in opened:
        ui.close()
