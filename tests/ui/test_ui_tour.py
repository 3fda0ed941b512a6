"""Every page, with a store that has shared, synced and has something to review and check: each renders, each
control a seller can reach has an accessible name, and each page's screenshot is taken (the README's, with
BLACKLIST_UI_SCREENSHOTS=docs).
"""

from __future__ import annotations

from pathlib import Path

from e2e_world import World
from playwright.sync_api import Page, expect
from ui_helpers import Ui, screenshot, unnamed_controls

LONG = 120_000


def _a_lived_in_store(world: World) -> World:
    a = world.agent("a", policy={"protect_min_orders": 1})
    x, x_name = world.new_buyer("Ruth Q. Chargeback")
    z, z_name = world.new_buyer("Zed Dispute")
    orders = world.mock.store("store-a", full=True)["orders"]
    regular = next((o["member_id"], o["buyer_name"]) for o in orders if o["status"] == "Completed")
    for outsider in ("h1", "h2"):
        world.outsider(outsider).report((x, x_name), regular)
        world.outsider(outsider).report((z, z_name), reason="dispute_abuse")
    world.mock.place_order("store-a", z)
    a.share_all()
    a.sync()  # adds X and Z, holds the regular customer for review, alerts on Z's order
    run = a.cli("run", "--once")  # the background agent's log, for the Logs page
    assert run.returncode == 0, run.stdout + run.stderr
    with a.session() as agent:
        agent.allow("100234")
    return world


def test_every_page_renders_with_named_controls(
    world: World, ui_for: type[Ui], page: Page, tmp_path: Path
) -> None:
    _a_lived_in_store(world)
    ui = ui_for(world.agent("a").config_path)
    page.set_viewport_size({"width": 1280, "height": 860})
    problems: list[str] = []  # console errors: a CSP violation, a failed script, an htmx error
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    ui.open(page)

    def visit(path: str, heading: str, name: str | None) -> None:
        page.goto(ui.url + path)
        expect(page.get_by_role("heading", name=heading, level=1)).to_be_visible()
        assert unnamed_controls(page) == [], f"{path}: controls without an accessible name"
        if name is not None:
            screenshot(page, name, tmp_path)

    visit("/", "Your store at a glance", "home")
    expect(page.locator("#agent-state")).to_contain_text("Stopped")

    page.goto(ui.url + "/sync")
    page.get_by_role("button", name="Preview the sync").click()
    expect(page.get_by_text("Preview only: nothing was changed")).to_be_visible(timeout=LONG)
    visit("/sync", "Sync now", "sync")

    page.goto(ui.url + "/share")
    page.get_by_role("button", name="Preview what would be shared").click()
    expect(page.get_by_text("Preview only: nothing was sent to the hub.")).to_be_visible(timeout=LONG)
    visit("/share", "Share all", "share")

    visit("/blacklist?origin=agent", "Blacklist", "blacklist")
    page.locator("summary", has_text="Why?").first.click()
    expect(page.get_by_role("group", name="Why ").first).to_be_visible()
    expect(page.get_by_role("group", name="Why ").first).to_contain_text("Reported by")
    screenshot(page, "blacklist", tmp_path)

    visit("/review", "Review: good customers on the shared list", "review")
    expect(page.get_by_role("button", name="Blacklist", exact=False).first).to_be_visible()
    visit("/alerts", "Check before shipping", "alerts")
    expect(page.get_by_role("row").filter(has_text="Zed Dispute")).to_have_count(1)
    visit("/allowlist", "Allowlist", "allowlist")
    visit("/audit", "Audit", "audit")
    visit("/logs", "Logs", "logs")
    expect(page.get_by_label("Last lines of the background agent's log")).to_contain_text("sync")

    page.goto(ui.url + "/settings")
    page.get_by_label("Stores that must have reported a buyer").fill("3")
    expect(page.locator("#preview-retract")).to_have_text("2")  # X and Z have two reporting stores each
    assert unnamed_controls(page) == []
    screenshot(page, "settings", tmp_path)

    visit("/setup", "Set up the agent", None)  # its screenshots come from the first-run test
    assert problems == []
