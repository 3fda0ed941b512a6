"""Home steers the background agent (start, stop, install at login); the dashboard works beside it (one
change at a time, "busy" said kindly); Settings previews a policy over the cached shared list, then saves it
into the config file without losing the seller's comments.
"""

from __future__ import annotations

import os
import tomllib

import pytest
from e2e_world import World, wait_until
from playwright.sync_api import Page, expect
from ui_helpers import Ui

from agent.config import load_settings
from agent.scheduler import InstanceLock
from agent.service import Systemd, probe_systemd
from agent.session import AgentSession

LONG = 120_000


def _agent_pid(world: World) -> int | None:
    return InstanceLock(world.agent("a").data_dir).holder_pid()


def test_home_starts_and_stops_the_background_agent(world: World, ui_for: type[Ui], page: Page) -> None:
    a = world.agent("a")
    ui_for(a.config_path).open(page)
    state = page.locator("#agent-state")
    expect(state).to_contain_text("Stopped")

    page.get_by_role("button", name="Start", exact=True).click()
    expect(page.get_by_role("status").filter(has_text="Started the background agent")).to_be_visible()
    wait_until(lambda: _agent_pid(world) is not None, timeout=60, what="the background agent's pid file")
    page.reload()
    expect(state).to_contain_text(f"Running process {_agent_pid(world)}")

    page.get_by_role("button", name="Stop", exact=True).click()
    expect(page.get_by_role("status").filter(has_text="Asked the background agent")).to_be_visible()
    # It finishes its current step (perhaps its first sync) and exits cleanly, removing its pid file.
    wait_until(lambda: _agent_pid(world) is None, timeout=180, what="the background agent to stop")
    page.reload()
    expect(state).to_contain_text("Stopped")


@pytest.mark.skipif(
    probe_systemd(dict(os.environ)).state is Systemd.USABLE,
    reason="would install a real service in this session",
)
def test_install_at_login_without_a_service_manager_says_how_and_installs_nothing(
    world: World, ui_for: type[Ui], page: Page
) -> None:
    a = world.agent("a")
    ui_for(a.config_path).open(page)

    page.get_by_role("button", name="Install at login").click()

    refusal = page.get_by_text("was NOT installed")
    expect(refusal).to_be_visible()
    expect(refusal).to_contain_text("blacklist-agent run")  # this machine runs no systemd: what to do instead
    units = world.tmp / "xdg-config" / "systemd" / "user"
    assert not units.exists() or not any(units.glob("*.service"))
    expect(page.get_by_text("Starts at login")).not_to_be_visible()


def test_sync_now_while_another_sync_holds_the_store_says_busy_and_changes_nothing(
    world: World, ui_for: type[Ui], page: Page
) -> None:
    a = world.agent("a")
    ui_for(a.config_path).open(page, "/sync")

    with AgentSession(a.settings) as other, other.exclusive():  # e.g. the background agent's cycle
        page.get_by_role("button", name="Sync now", exact=True).click()
        expect(page.get_by_text("The agent is busy with another sync right now")).to_be_visible(timeout=LONG)

    with a.state() as state:
        assert state.cycles.last() is None  # nothing ran


def test_settings_preview_counts_retractions_then_save_keeps_the_files_comments(
    world: World, ui_for: type[Ui], page: Page
) -> None:
    a = world.agent("a")
    x, x_name = world.new_buyer("Two Reports")
    y, y_name = world.new_buyer("Three Reports")
    for outsider in ("h1", "h2"):
        world.outsider(outsider).report((x, x_name), (y, y_name))
    world.outsider("h3").report((y, y_name))
    a.sync()
    assert {x, y} <= a.blacklist()
    config = a.config_path
    config.write_text("# my own note, kept\n" + config.read_text(encoding="utf-8"), encoding="utf-8")
    ui_for(config).open(page, "/settings")
    expect(page.locator("#preview-retract")).to_have_text("0")

    page.get_by_label("Stores that must have reported a buyer").fill("3")

    expect(page.locator("#preview-retract")).to_have_text("1")  # X has only two reporting stores
    expect(page.get_by_role("listitem").filter(has_text=x_name)).to_contain_text("policy needs 3")
    assert load_settings(config).policy.min_reporters == 2  # a preview changes nothing
    assert {x, y} <= a.blacklist()

    page.get_by_label("Sync every (minutes)").fill("30")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_role("status").filter(has_text="Settings saved.")).to_be_visible()
    text = config.read_text(encoding="utf-8")
    assert text.startswith("# my own note, kept\n")
    saved = tomllib.loads(text)
    assert saved["policy"]["min_reporters"] == 3
    assert saved["schedule"]["interval_minutes"] == 30
    assert "min_score" not in saved["policy"]


def test_settings_refuses_a_value_the_agent_would_refuse(world: World, ui_for: type[Ui], page: Page) -> None:
    a = world.agent("a")
    before = a.config_path.read_text(encoding="utf-8")
    ui_for(a.config_path).open(page, "/settings")

    page.get_by_label("Minimum score").fill("250")

    expect(page.locator("#policy-preview")).to_contain_text("min score")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_role("alert")).to_contain_text("Not saved")
    assert a.config_path.read_text(encoding="utf-8") == before
