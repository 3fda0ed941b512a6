"""First run: a seller with no config sets the agent up in the browser, one-time code included, and the
dashboard writes the same config file and keyring entries as `init`, `login` and `secrets set hub-token`.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from e2e_world import World, wait_until
from playwright.sync_api import Page, expect
from ui_helpers import Ui, screenshot

from agent.config import load_settings
from agent.errors import SecretMissing
from agent.secrets import SecretName, get_secret


def _fill_store(page: Page, world: World, data_dir: Path) -> None:
    login = world.mock.store("store-a")["login"]
    page.get_by_label("Seller center address").fill(world.mock.url)
    page.get_by_label("Seller login").fill(login)
    page.get_by_label("Site layout").select_option("mock-v1")
    page.get_by_text("Advanced: data folder").click()
    page.get_by_label("Data folder").fill(str(data_dir))
    page.get_by_role("button", name="Save store settings").click()


def test_first_run_setup_with_a_one_time_code_writes_config_and_keyring(
    world: World, ui_for: type[Ui], page: Page, tmp_path: Path
) -> None:
    login, password = world.mock.credentials("store-a")
    world.mock.set_faults(otp_required=True)  # the seller center checks this new device with a code
    config = tmp_path / "fresh" / "config.toml"
    ui = ui_for(config)
    token = world.hub.add_seller("Store a", "store-a")

    ui.open(page)  # no config yet: the dashboard starts on its setup page
    expect(page.get_by_role("heading", name="Set up the agent")).to_be_visible()
    screenshot(page, "setup", tmp_path)
    _fill_store(page, world, tmp_path / "data-a")
    expect(page.get_by_text("Next: log in.")).to_be_visible()

    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    code_box = page.get_by_label("One-time code")
    expect(code_box).to_be_visible(timeout=60_000)
    wait_until(lambda: world.mock.otp(login) is not None, what="the code to be sent")
    code_box.fill(str(world.mock.otp(login)))
    page.get_by_role("button", name="Send the code").click()
    expect(page.get_by_text("Logged in; the session is saved.")).to_be_visible(timeout=60_000)

    page.get_by_label("Hub address").fill(world.hub.url)
    page.get_by_label("Hub token").fill(token)
    page.get_by_role("button", name="Save hub settings").click()
    expect(page.get_by_text("Next: run the checks.")).to_be_visible()

    page.get_by_role("button", name="Run the checks").click()
    checks = page.get_by_role("list", name="Checks")
    expect(checks).to_be_visible(timeout=90_000)
    for name in ("config", "selectors", "backend", "login", "hub", "hub-token"):
        expect(checks.get_by_role("listitem").filter(has_text=name).first).to_contain_text("OK")
    screenshot(page, "setup-done", tmp_path)

    # The same file and keyring entries as `init` + `login` + `secrets set hub-token`.
    written = tomllib.loads(config.read_text(encoding="utf-8"))
    assert written["backend"]["base_url"] == world.mock.url
    assert written["backend"]["username"] == login
    assert written["hub"]["url"] == world.hub.url
    assert "# Which selectors file describes" in config.read_text(encoding="utf-8")  # the commented template
    settings = load_settings(config)
    assert settings.data_dir == tmp_path / "data-a"
    assert get_secret(settings, SecretName.BACKEND_PASSWORD) == password
    assert get_secret(settings, SecretName.HUB_TOKEN) == token
    assert settings.session_path.is_file()  # the login's session, reused by every later action


def test_a_refused_password_is_said_plainly_and_nothing_is_stored(
    world: World, ui_for: type[Ui], page: Page, tmp_path: Path
) -> None:
    config = tmp_path / "fresh" / "config.toml"
    ui = ui_for(config)
    ui.open(page)
    _fill_store(page, world, tmp_path / "data-a")

    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Log in").click()

    expect(page.get_by_role("alert").filter(has_text="It did not work")).to_contain_text(
        "refused", timeout=60_000
    )
    settings = load_settings(config)
    assert not settings.session_path.exists()
    with pytest.raises(SecretMissing):
        get_secret(settings, SecretName.BACKEND_PASSWORD)
