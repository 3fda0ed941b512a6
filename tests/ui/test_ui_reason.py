"""The seller blacklists a buyer from the dashboard and chooses the reason their report carries: real
Chromium, the real mock backend, a real hub over HTTP."""

from __future__ import annotations

from e2e_world import World
from playwright.sync_api import Page, expect
from ui_helpers import Ui

from agent.hub_client import HubClient

LONG = 120_000  # ms: an action that logs in and changes the store through a browser, on a busy machine


def test_blacklisting_a_buyer_from_the_dashboard_reports_the_chosen_reason_at_once(
    world: World, ui_for: type[Ui], page: Page
) -> None:
    a = world.agent("a", sharing={"default_reason": "fraud"})
    x, name = world.new_buyer("Dina Dashboard")
    ui_for(a.config_path).open(page, "/blacklist")
    form = page.get_by_role("form", name="Blacklist a buyer")
    expect(form.get_by_label("Reason")).to_have_value("fraud")  # the configured default comes first

    form.get_by_label("Member ID").fill(x)
    form.get_by_label("Name").fill(name)
    form.get_by_label("Reason").select_option("chargeback")
    form.get_by_role("button", name="Blacklist and report").click()

    expect(page.get_by_text("reported to the hub (reason: chargeback)")).to_be_visible(timeout=LONG)
    assert x in a.blacklist()
    with HubClient.from_settings(a.settings) as hub:  # a lone report is below the feed's threshold
        (found,) = hub.lookup([x])
    assert found.own_report
    assert dict(found.entry.reasons) == {"chargeback": 1}
