"""The rules that make sharing safe, end to end: real Chromium, the mock backend, the hub over HTTP.

Reports from stores that are not under test come straight through the hub API (`world.outsider`), so each
test starts a browser only for the agents whose behaviour it checks.
"""

from __future__ import annotations

import pytest
from e2e_world import World

pytestmark = pytest.mark.e2e


def test_auto_added_buyer_is_never_reported_back_to_the_hub(world: World) -> None:
    a, c = world.agent("a"), world.agent("c")
    x, x_name = world.new_buyer()
    world.blacklist_by_hand("a", x)
    a.share_all()
    world.outsider("h").report((x, x_name))
    c.sync()
    assert x in c.blacklist()

    shared = c.share_all()

    assert shared.ok
    assert shared.agent_entries_kept_private == 1
    assert world.hub.reporters(x) == 2  # not 3: C's automatic entry did not amplify the reports


def test_seller_removing_an_auto_added_buyer_allowlists_them_for_good(world: World) -> None:
    c = world.agent("c")
    x, x_name = world.new_buyer()
    world.outsider("h1").report((x, x_name))
    world.outsider("h2").report((x, x_name))
    c.sync()
    assert x in c.blacklist()

    world.mock.unblacklist("store-c", x)  # the seller of C disagrees
    report = c.sync()

    assert report.allowlisted_by_seller == [x]
    assert x not in c.blacklist()  # the same cycle still sees X passing the policy, and leaves it alone
    with c.state() as state:
        assert x in state.allowlist.ids()


def test_withdrawn_report_retracts_the_agent_entry_and_keeps_manual_ones(world: World) -> None:
    a, c = world.agent("a"), world.agent("c")
    x, x_name = world.new_buyer()
    m, _ = world.new_buyer()
    world.blacklist_by_hand("a", x)
    world.blacklist_by_hand("c", m)
    a.share_all()
    world.outsider("h").report((x, x_name))
    c.sync()
    manual = c.blacklist() - {x}
    assert x in c.blacklist()

    world.mock.unblacklist("store-a", x)  # A changes its mind; its agent withdraws the report
    a.sync()
    assert world.hub.reporters(x) == 1
    report = c.sync()

    assert [r.member_id for r in report.retracted] == [x]
    assert c.blacklist() == manual  # X gone; C's own entries (m and the seeded ones) untouched
    assert m in c.blacklist()


def test_disabling_a_poisoning_seller_retracts_what_only_it_supported_everywhere(world: World) -> None:
    b, c = world.agent("b"), world.agent("c")
    honest, other_honest, poisoner = world.outsider("h1"), world.outsider("h2"), world.outsider("poisoner")
    victim = world.new_buyer()
    fraudster = world.new_buyer()
    honest.report(victim, fraudster)
    other_honest.report(fraudster)
    poisoner.report(victim)
    b.sync()
    c.sync()
    assert {victim[0], fraudster[0]} <= b.blacklist() & c.blacklist()

    world.hub.disable_seller(poisoner.name)
    b.sync()
    c.sync()

    for store in (b, c):
        assert victim[0] not in store.blacklist()
        assert fraudster[0] in store.blacklist()  # still two honest reporters


def test_reports_made_while_the_hub_is_down_are_delivered_at_the_next_cycle(world: World) -> None:
    a = world.agent("a")
    x, _ = world.new_buyer()
    world.blacklist_by_hand("a", x)

    world.hub.stop()
    down = a.sync()
    world.hub.start()
    assert down.outcome == "partial"
    assert down.outbox_pending >= 1
    assert world.hub.reporters(x) == 0

    up = a.sync()

    assert up.outcome == "ok"
    assert up.outbox_pending == 0
    assert world.hub.reporters(x) == 1
