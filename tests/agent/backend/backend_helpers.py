"""Helpers shared by the backend driver's tests (imported by name: tests/ has no packages)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent.backend.driver import PlaywrightBackend
from agent.config import Settings
from fixtures.mock_backend.testing import MockControl

OpenStore = Callable[..., PlaywrightBackend]


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
