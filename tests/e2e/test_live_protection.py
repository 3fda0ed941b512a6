"""Live protection end to end: two `blacklist-agent run` processes (real Chromium, the mock backend over
HTTP, a real hub) with the default 15-minute interval. A buyer caught by hand in one store's seller center is
reported by its head check, and the other store, listening on the hub, refuses the buyer's next order long
before its next cycle; a withdrawn report is retracted the same way.

Nothing here is timed: the test waits for the store's state and then counts the cycles each agent ran.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from e2e_world import Agent, World, kill_group, wait_until

pytestmark = pytest.mark.e2e


@contextmanager
def running(*agents: Agent) -> Iterator[list[subprocess.Popen[str]]]:
    processes = [agent.start("run") for agent in agents]
    try:
        yield processes
    finally:
        for process in processes:
            if process.poll() is None:
                os.kill(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                kill_group(process)


def first_cycle_done(agent: Agent) -> bool:
    with agent.state() as state:
        last = state.cycles.last("sync")
        return last is not None and last.outcome == "ok" and state.feed.load().pulled


def cycle_kinds(agent: Agent) -> list[str]:
    with agent.state() as state:
        return [c.kind for c in state.cycles.recent(limit=100)]


def order_refused(world: World, letter: str, member_id: str) -> bool:
    try:
        world.mock.place_order(f"store-{letter}", member_id)
    except httpx.HTTPStatusError as exc:
        return exc.response.status_code == 403
    return False


def test_a_buyer_caught_by_hand_in_a_second_store_is_refused_in_a_listening_store_before_its_next_cycle(
    world: World,
) -> None:
    a = world.agent("a", schedule={"head_check_minutes": 0.05})  # a head check every 3 s
    b = world.agent("b")  # every default: a full cycle every 15 minutes, listening in between
    x, name = world.new_buyer("Xander Live")
    first = world.outsider("h1")
    first.report((x, name))  # the first report: below B's policy of two stores

    with running(a, b) as processes:
        wait_until(lambda: first_cycle_done(a) and first_cycle_done(b), timeout=180, what="the first cycles")
        assert x not in b.blacklist()

        world.blacklist_by_hand("a", x)  # the second seller's click, in the seller center
        wait_until(lambda: x in b.blacklist(), timeout=180, what="B to blacklist X")
        assert order_refused(world, "b", x)

        # Retraction: the first reporter withdraws; one store is left, below B's policy.
        response = httpx.delete(
            f"{world.hub.url}/v1/reports/{x}", headers={"Authorization": f"Bearer {first.token}"}, timeout=10
        )
        response.raise_for_status()
        wait_until(lambda: x not in b.blacklist(), timeout=180, what="B to retract X")
        assert not order_refused(world, "b", x)
        assert all(p.poll() is None for p in processes)  # both agents still running

    kinds = cycle_kinds(b)
    assert kinds.count("sync") == 1, kinds  # B never ran a second full cycle ...
    assert kinds.count("live") >= 2, kinds  # ... the addition and the retraction came through live steps
    assert cycle_kinds(a).count("sync") == 1  # A reported X from a head check, not a full cycle
