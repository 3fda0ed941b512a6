"""Which browser the driver runs, and the launch check `doctor` uses."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.backend import browser
from agent.backend.browser import launch_check, resolve_browser
from agent.config import Settings
from agent.errors import ConfigError

NOT_INSTALLED = Path("/nonexistent/ms-playwright/chromium/chrome")


def settings(tmp_path: Path, **browser_settings: object) -> Settings:
    return Settings(
        data_dir=tmp_path,
        backend={"base_url": "http://127.0.0.1:9", "username": "u"},
        browser=browser_settings,
    )


def fake_executable(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


def test_playwright_managed_chromium_comes_first(tmp_path: Path) -> None:
    managed = fake_executable(tmp_path, "chrome")
    configured = fake_executable(tmp_path, "my-chromium")
    choice = resolve_browser(settings(tmp_path, executable=str(configured)), managed)
    assert choice.executable == managed


def test_configured_executable_then_system_chromium(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    configured = fake_executable(tmp_path, "my-chromium")
    assert (
        resolve_browser(settings(tmp_path, executable=str(configured)), NOT_INSTALLED).executable
        == configured
    )
    system = fake_executable(tmp_path, "chromium-from-env")
    monkeypatch.setenv("CHROMIUM_PATH", str(system))
    assert resolve_browser(settings(tmp_path), NOT_INSTALLED).executable == system


def test_missing_configured_executable_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        resolve_browser(settings(tmp_path, executable=str(tmp_path / "nope")), NOT_INSTALLED)
    assert caught.value.key == "browser.executable"


def test_without_any_chromium_an_installed_chrome_or_edge_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CHROMIUM_PATH", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(browser, "FIXED_CHROMIUM_PATHS", ())
    assert resolve_browser(settings(tmp_path, channel="msedge"), NOT_INSTALLED).channel == "msedge"
    default = resolve_browser(settings(tmp_path), NOT_INSTALLED).channel
    assert default == ("msedge" if browser.sys.platform == "win32" else "chrome")


def test_launch_check_reports_the_running_browser(tmp_path: Path) -> None:
    report = launch_check(settings(tmp_path))
    assert "version" in report
