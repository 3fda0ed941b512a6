"""The agent under trouble: killed mid-apply, sessions expiring, a full blacklist, and dry runs."""

from __future__ import annotations

import json
import threading

import pytest
from e2e_world import World, kill_group, wait_until

pytestmark = pytest.mark.e2e


def shared_buyers(world: World, count: int, *, reporters: int = 2) -> list[str]:
    """`count` new buyers reported by `reporters` other stores: C's policy lets them through."""
    buyers = [world.new_buyer() for _ in range(count)]
    for n in range(reporters):
        world.outsider(f"h{n}").report(*buyers)
    return [member_id for member_id, _ in buyers]


def test_agent_killed_while_applying_finishes_at_the_next_run_without_duplicates(world: World) -> None:
    c = world.agent("c", browser={"concurrency": 1})
    buyers = shared_buyers(world, 6)
    before = c.blacklist()
    world.mock.set_faults(latency_ms=300)  # each blacklisting now takes a while

    sync = c.start("sync")
    wait_until(lambda: len(c.blacklist() - before) >= 2, what="the agent to apply a few entries")
    kill_group(sync)  # SIGKILL, browser included: no chance to clean up
    applied_when_killed = c.blacklist() - before
    world.mock.set_faults(latency_ms=0)
    assert len(applied_when_killed) < len(buyers)

    again = c.cli("sync")

    assert again.returncode == 0, again.stdout + again.stderr
    listed = world.mock.blacklist_ids("store-c")
    assert len(listed) == len(set(listed))
    assert set(listed) - before == set(buyers)
    with c.state() as state:
        assert set(state.blacklist.automatic()) == set(buyers)
        for member_id in buyers:
            adds = [r for r in state.audit.recent(member_id=member_id) if r.action == "add"]
            assert len(adds) == 1, member_id


def test_session_expiring_in_the_middle_of_a_cycle_is_renewed(world: World) -> None:
    c = world.agent("c", browser={"concurrency": 1})
    buyers = shared_buyers(world, 4)
    before = c.blacklist()
    world.mock.set_faults(latency_ms=200)
    expired: list[int] = []

    def expire_after_the_first_addition() -> None:
        wait_until(lambda: len(c.blacklist() - before) >= 1, what="a first addition")
        expired.append(world.mock.expire_sessions("store-c"))

    watcher = threading.Thread(target=expire_after_the_first_addition, daemon=True)
    watcher.start()
    report = c.sync()
    watcher.join(timeout=30)

    assert expired
    assert expired[0] >= 1  # the agent's session (and any left by earlier tests) ended mid-cycle
    assert report.outcome == "ok", report.errors
    assert set(buyers) <= c.blacklist()


def test_full_blacklist_keeps_manual_entries_and_makes_room_only_from_automatic_ones(world: World) -> None:
    c = world.agent("c")
    manual = c.blacklist()
    world.mock.set_faults(blacklist_capacity=len(manual) + 1)
    shared_buyers(world, 2)

    first = c.sync()

    assert first.blacklist_full
    assert len(c.blacklist()) == len(manual) + 1
    assert manual <= c.blacklist()

    (stronger,) = shared_buyers(world, 1, reporters=4)  # a higher score than the automatic entry
    second = c.sync()

    assert stronger in c.blacklist()
    assert len(second.evicted) == 1
    assert manual <= c.blacklist()


def test_dry_run_leaves_the_store_and_the_hub_exactly_as_they_were(world: World) -> None:
    c = world.agent("c")
    (x,) = shared_buyers(world, 1)
    m, _ = world.new_buyer()
    world.blacklist_by_hand("c", m)  # a real sync would report m and blacklist x
    store_before, hub_before = world.mock.blacklist_ids("store-c"), world.hub.snapshot()

    sync = c.cli("sync", "--dry-run", "--json")
    share = c.cli("share-all", "--dry-run", "--json")

    assert sync.returncode == 0, sync.stderr
    assert share.returncode == 0, share.stderr
    assert x in [item["member_id"] for item in json.loads(sync.stdout)["added"]]
    assert json.loads(share.stdout)["sellers_entries"] == len(store_before)
    assert world.mock.blacklist_ids("store-c") == store_before
    assert world.hub.snapshot() == hub_before
    assert world.hub.reporters(m) == 0
