"""Fixtures shared by every test area: the mock seller backend and the browser launch settings.

- `mock_backend` (function scope): a `MockControl` (fixtures/mock_backend/testing.py) for the one mock
  server of the session: `.url`, `.state()`, `.store()`, `.credentials()`, `.set_faults(**kw)`,
  `.add_buyer()`, `.place_order()`, `.blacklist()`, `.unblacklist()`, `.otp()`, `.expire_sessions()`,
  `.reset()`. The mock is reset (seed data, start-up faults) after every test that uses it.
- `mock_server` (session scope): the same server without the reset, for session-scoped fixtures.
- With `-n N` (pytest-xdist; scripts/test.sh runs on both cores) the hub's tests stay on one worker, one at a
  time: on PostgreSQL they share one database.
- pytest-playwright's browser runs headless, on Playwright's own Chromium when installed, else on
  `$CHROMIUM_PATH` or `/usr/bin/chromium`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.backend.browser import LAUNCH_ARGS, find_system_chromium
from fixtures.mock_backend.config import MockConfig
from fixtures.mock_backend.server import MockServer
from fixtures.mock_backend.testing import MockControl

HUB_TESTS = Path(__file__).parent / "hub"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(HUB_TESTS):
            item.add_marker(pytest.mark.xdist_group("hub-database"))  # honoured with --dist loadgroup


@pytest.fixture(scope="session")
def mock_server() -> Iterator[MockControl]:
    with MockServer(MockConfig()) as server:
        control = MockControl(server.url)
        yield control
        control.close()


@pytest.fixture
def mock_backend(mock_server: MockControl) -> Iterator[MockControl]:
    yield mock_server
    mock_server.reset()


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any], playwright: Any) -> dict[str, Any]:
    args = {**browser_type_launch_args, "headless": browser_type_launch_args.get("headless", True)}
    if Path(playwright.chromium.executable_path).exists() or {"executable_path", "channel"} & set(args):
        return args
    # The same system browser, with the same flags, that the agent itself would pick here.
    args["executable_path"] = str(find_system_chromium() or "/usr/bin/chromium")
    args["args"] = [*args.get("args", []), *LAUNCH_ARGS]
    return args
