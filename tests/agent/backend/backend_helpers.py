"""Helpers shared by the backend driver's tests (imported by name: tests/ has no packages)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent.backend.driver import PlaywrightBackend, open_playwright_backend
from agent.backend.selectors import shipped_dir
from agent.config import Settings
from fixtures.mock_backend.testing import MockControl

OpenStore = Callable[..., PlaywrightBackend]
LAYOUTS = [layout for layout in ("v1", "v2", "v3") if (shipped_dir() / f"mock-{layout}.toml").is_file()]


def not_blacklisted(control: MockControl, count: int, store: str = "store-a") -> list[tuple[str, str]]:
    """(member id, name) of `count` customers of the store that it has not blacklisted."""
    listed = set(control.blacklist_ids(store))
    buyers = [(c["member_id"], c["name"]) for c in control.store(store, full=True)["customers"]]
    return [b for b in buyers if b[0] not in listed][:count]


def store_settings(
    control: MockControl,
    data_dir: Path,
    *,
    store: str = "store-a",
    selectors: str = "mock-v1",
    **backend: Any,
) -> Settings:
    login, _ = control.credentials(store)
    browser = backend.pop("browser", {})
    return Settings(
        data_dir=data_dir,
        backend={"base_url": control.url, "username": login, "selectors": selectors, **backend},
        browser=browser,
    )


class Drivers:
    """One driver per layout, opened on first use and shared by a module's tests."""

    def __init__(self, control: MockControl, data_dir: Path) -> None:
        self.control = control
        self.data_dir = data_dir
        self.open: dict[str, PlaywrightBackend] = {}

    def get(self, layout: str) -> PlaywrightBackend:
        if layout not in self.open:
            settings = store_settings(self.control, self.data_dir / layout, selectors=f"mock-{layout}")
            self.open[layout] = open_playwright_backend(settings, password=self.control.credentials()[1])
        return self.open[layout]
