"""Fixtures of the end-to-end tests: one small mock backend for the whole run, a fresh hub and fresh
agents per test (see e2e_world.py). Every test module here sets `pytestmark = pytest.mark.e2e`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_world import World

from fixtures.mock_backend.config import MockConfig
from fixtures.mock_backend.server import MockServer
from fixtures.mock_backend.testing import MockControl


@pytest.fixture(scope="session")
def small_mock() -> Iterator[MockControl]:
    """Three small stores: the agents read every page, so small stores keep the tests fast."""
    with MockServer(MockConfig(stores=3, customers=12, orders=6)) as server:
        control = MockControl(server.url)
        yield control
        control.close()


@pytest.fixture
def world(small_mock: MockControl, tmp_path: Path) -> Iterator[World]:
    world = World(small_mock, tmp_path)
    try:
        yield world
    finally:
        world.close()
        small_mock.reset()
