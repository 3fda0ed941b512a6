"""A seller shares, syncs, reads why a buyer was blacklisted, undoes it, reviews held-back buyers and keeps an
allowlist, all in the browser: real Chromium, the real mock backend, a real hub over HTTP.
"""

from __future__ import annotations

from e2e_world import World
from playwright.sync_api import Page, expect
from ui_helpers import Ui

LONG = 120_000  # ms: an action that logs in and reads the store through a browser, on a busy machine


def _reports_on_hub(world: World) -> int:
    return int(world.hub.snapshot()["stats"]["reports"])


def test_share_all_previews_then_pushes_the_sellers_own_entries(
    world: World, ui_for: type[Ui], page: Page
) -> None:
    a = world.agent("a")
    own = len(a.blacklist())  # the store's seed blacklist, all the seller's own
    ui_for(a.config_path).open(page, "/share")

    page.get_by_role("button", name="Preview what would be shared").click()
    expect(page.get_by_text("Preview only: nothing was sent to the hub.")).to_be_visible(timeout=LONG)
    expect(page.get_by_text(f"{own} new reports")).to_be_visible()
    assert _reports_on_hub(world) == 0

    page.get_by_role("button", name="Go ahead: share now").click()
    expect(page.get_by_text(f"Shared: {own} reports pushed")).to_be_visible(timeout=LONG)
    assert _reports_on_hub(world) == own


def test_sync_now_shows_progress_adds_a_buyer_with_a_why_card_and_undo_takes_it_back(
    world: World, ui_for: type[Ui], page: Page
) -> None:
    a = world.agent("a")
    x, x_name = world.new_buyer("Ruth Q. Chargeback")
    world.outsider("h1").report((x, x_name))
    world.outsider("h2").report((x, x_name))
    ui_for(a.config_path).open(page, "/sync")

    page.get_by_role("button", name="Preview the sync").click()
    expect(page.get_by_text("Preview only: nothing was changed")).to_be_visible(timeout=LONG)
    expect(page.get_by_role("listitem").filter(has_text=x_name)).to_be_visible()
    assert x not in a.blacklist()

    world.mock.set_faults(latency_ms=250)  # a store slow enough that the counters are seen moving
    page.get_by_role("button", name="Go ahead: sync now").click()
    expect(page.get_by_role("list", name="Progress")).to_contain_text("Blacklist entries read", timeout=LONG)
    expect(page.get_by_text("Sync finished: ok.")).to_be_visible(timeout=LONG)
    world.mock.set_faults(latency_ms=0)
    assert x in a.blacklist()

    page.goto(page.url.replace("/sync", "/blacklist"))
    page.get_by_label("Search").fill(x)
    row = page.get_by_role("row").filter(has_text=x_name)
    expect(row).to_have_count(1)
    expect(page.get_by_role("row")).to_have_count(2)  # the header and X: the search narrowed the table
    expect(row).to_contain_text("Added by the agent")
    row.get_by_text("Why?").click()
    card = page.get_by_role("group", name=f"Why {x_name} ({x})")
    expect(card).to_be_visible()
    expect(card).to_contain_text("2 stores")
    expect(card).to_contain_text("fraud ×2")
    expect(card).to_contain_text("sync cycle #")

    row.get_by_role("button", name=f"Undo {x_name} ({x})").click()
    expect(page.get_by_text("Undone:")).to_be_visible(timeout=LONG)
    assert x not in a.blacklist()
    with a.state() as state:
        assert x in state.allowlist.ids()
        assert x not in state.blacklist.automatic()


def test_review_queue_blacklists_one_held_buyer_and_dismisses_another(
    world: World, ui_for: type[Ui], page: Page
) -> None:
    a = world.agent("a", policy={"protect_min_orders": 1})
    orders = world.mock.store("store-a", full=True)["orders"]
    good = {o["member_id"]: o["buyer_name"] for o in orders if o["status"] == "Completed"}
    (keep_id, keep_name), (drop_id, drop_name) = sorted(good.items())[:2]
    for outsider in ("h1", "h2"):
        world.outsider(outsider).report((keep_id, keep_name), (drop_id, drop_name))
    a.sync()  # both pass the policy, but they completed orders here: held for review
    assert not {keep_id, drop_id} & a.blacklist()
    ui = ui_for(a.config_path)
    ui.open(page, "/review")

    page.get_by_role("button", name=f"Blacklist {drop_name} ({drop_id})").click()
    expect(page.get_by_text(f"Blacklisted {drop_name} ({drop_id}) as the agent would have")).to_be_visible(
        timeout=LONG
    )
    assert drop_id in a.blacklist()
    with a.state() as state:
        assert drop_id in state.blacklist.automatic()  # the agent's entry, with its provenance
        assert drop_id not in {i.member_id for i in state.outbox.items()}
    a.sync()
    assert world.hub.reporters(drop_id) == 2  # never pushed as this seller's own report (no amplification)

    page.goto(ui.url + "/review")
    page.get_by_role("button", name=f"Dismiss {keep_name} ({keep_id})").click()
    expect(page.get_by_role("status").filter(has_text="is on your allowlist")).to_be_visible()
    expect(page.get_by_text("Nobody to review.")).to_be_visible()
    with a.state() as state:
        assert keep_id in state.allowlist.ids()
    assert keep_id not in a.blacklist()


def test_allowlist_add_and_remove(world: World, ui_for: type[Ui], page: Page) -> None:
    a = world.agent("a")
    ui_for(a.config_path).open(page, "/allowlist")

    page.get_by_label("Member ID").fill("100234")
    page.get_by_role("button", name="Add to the allowlist").click()
    expect(page.get_by_role("row").filter(has_text="100234")).to_contain_text("allowed by the seller")
    with a.state() as state:
        assert "100234" in state.allowlist.ids()

    page.get_by_role("button", name="Remove 100234 from the allowlist").click()
    expect(page.get_by_text("The allowlist is empty.")).to_be_visible()
    with a.state() as state:
        assert "100234" not in state.allowlist.ids()


def test_an_alert_shows_its_why_card_and_can_be_dismissed(world: World, ui_for: type[Ui], page: Page) -> None:
    a = world.agent("a")
    z, z_name = world.new_buyer("Zed Dispute")
    world.outsider("h1").report((z, z_name), reason="dispute_abuse")
    world.outsider("h2").report((z, z_name), reason="dispute_abuse")
    order = world.mock.place_order("store-a", z)  # ordered before the store knew
    a.sync()
    ui_for(a.config_path).open(page, "/alerts")

    row = page.get_by_role("row").filter(has_text=order["order_id"])
    expect(row).to_contain_text(z_name)
    row.get_by_text("Why?").click()
    expect(page.get_by_role("group", name=f"Why {z_name} ({z})")).to_contain_text("dispute abuse ×2")
    row.get_by_role("button", name=f"Dismiss the alert for order {order['order_id']}").click()

    expect(page.get_by_role("status").filter(has_text="dismissed")).to_be_visible()
    expect(page.get_by_role("row").filter(has_text=order["order_id"])).to_have_count(0)
    with a.state() as state:
        assert order["order_id"] not in {alert.order_id for alert in state.alerts.recent()}
        assert state.audit.recent(limit=1)[0].action == "alert_dismissed"


def test_removing_your_own_entry_takes_it_off_the_store_withdraws_it_and_allowlists_the_buyer(
    world: World, ui_for: type[Ui], page: Page
) -> None:
    a = world.agent("a")
    a.share_all()
    shared = _reports_on_hub(world)
    entry = world.mock.store("store-a")["blacklist"][0]
    m, name = str(entry["member_id"]), entry["name"]
    ui_for(a.config_path).open(page, "/blacklist")

    row = page.get_by_role("row").filter(has_text=m)
    expect(row).to_contain_text("Yours")
    row.get_by_role("button", name=f"Remove {name} ({m})").click()

    expect(page.get_by_text("Removed from your store's blacklist.")).to_be_visible(timeout=LONG)
    assert m not in a.blacklist()
    with a.state() as state:
        assert m in state.allowlist.ids()  # the seller forgave them: never re-added automatically
        assert state.outbox.items() == []  # the withdrawal went to the hub at once, not at the next sync
    assert _reports_on_hub(world) == shared - 1
