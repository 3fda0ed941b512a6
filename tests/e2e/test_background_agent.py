"""`blacklist-agent run` as a seller's machine runs it: the real command, in its own process."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from e2e_world import World, wait_until

from agent.scheduler import InstanceLock

pytestmark = pytest.mark.e2e


def test_two_agents_for_two_stores_run_side_by_side(world: World) -> None:
    b, c = world.agent("b"), world.agent("c")
    x = world.new_buyer()
    world.outsider("h1").report(x)
    world.outsider("h2").report(x)

    runs = [b.start("run", "--once"), c.start("run", "--once")]
    outputs = [run.communicate(timeout=180)[0] for run in runs]

    assert [run.returncode for run in runs] == [0, 0], outputs
    assert x[0] in b.blacklist()
    assert x[0] in c.blacklist()
    assert (b.data_dir / "logs" / "agent.log").is_file()  # each agent logs in its own data dir
    assert (c.data_dir / "logs" / "agent.log").is_file()


def test_sigterm_mid_cycle_finishes_the_current_action_saves_state_and_exits_0(world: World) -> None:
    c = world.agent("c", browser={"concurrency": 1})
    buyers = [world.new_buyer() for _ in range(6)]
    world.outsider("h1").report(*buyers)
    world.outsider("h2").report(*buyers)
    before = c.blacklist()
    world.mock.set_faults(latency_ms=300)

    run = c.start("run")
    wait_until(lambda: len(c.blacklist() - before) >= 2, what="the agent to apply a few entries")
    os.kill(run.pid, signal.SIGTERM)  # what systemd (KillMode=mixed), launchd or `kill` send
    output = run.communicate(timeout=60)[0]

    assert run.returncode == 0, output
    applied = c.blacklist() - before
    assert len(applied) < len(buyers)
    with c.state() as state:
        recorded = set(state.blacklist.automatic())
        in_flight = {intent.member_id for intent in state.intents.pending()}
    assert recorded <= applied
    assert applied <= recorded | in_flight  # nothing done behind the state's back: next read settles the rest
    assert _last_cycle_outcome(c.data_dir) == "stopped", output
    assert not (c.data_dir / "agent.pid").exists()


def test_ctrl_c_to_the_whole_group_mid_cycle_finishes_the_action_and_next_run_adds_no_duplicate(
    world: World,
) -> None:
    c = world.agent("c", browser={"concurrency": 1})
    buyers = [world.new_buyer() for _ in range(6)]
    world.outsider("h1").report(*buyers)
    world.outsider("h2").report(*buyers)
    before = c.blacklist()
    world.mock.set_faults(latency_ms=300)

    run = c.start("run")  # its own session: the group is the agent and its browser, as in a terminal
    wait_until(lambda: len(c.blacklist() - before) >= 2, what="the agent to apply a few entries")
    os.killpg(run.pid, signal.SIGINT)  # what Ctrl+C in a terminal sends: the browser gets it too
    output = run.communicate(timeout=60)[0]

    assert run.returncode == 0, output
    assert _last_cycle_outcome(c.data_dir) == "stopped", output
    applied = c.blacklist() - before
    assert len(applied) < len(buyers)
    with c.state() as state:
        recorded = set(state.blacklist.automatic())
        in_flight = {intent.member_id for intent in state.intents.pending()}
    assert recorded <= applied <= recorded | in_flight

    world.mock.set_faults(latency_ms=0)
    rerun = c.cli("run", "--once")

    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    listed = world.mock.blacklist_ids(c.store_id)
    assert len(listed) == len(set(listed))
    assert set(listed) - before == {member_id for member_id, _ in buyers}
    with c.state() as state:
        for member_id, _ in buyers:
            assert [r.action for r in state.audit.recent(member_id=member_id)].count("add") == 1, member_id


def test_second_agent_on_the_same_data_dir_exits_2_naming_the_first(world: World) -> None:
    b = world.agent("b")
    with InstanceLock(b.data_dir):  # this test process plays the agent already running
        second = b.cli("run", "--once")

    assert second.returncode == 2
    assert str(b.data_dir) in second.stderr
    assert f"process {os.getpid()}" in second.stderr


def test_one_time_code_in_a_background_run_needs_a_human_and_changes_nothing(world: World) -> None:
    c = world.agent("c")
    x = world.new_buyer()
    world.outsider("h1").report(x)
    world.outsider("h2").report(x)
    world.mock.set_faults(otp_required=True)
    store_before, hub_before = world.mock.blacklist_ids("store-c"), world.hub.snapshot()

    run = c.cli("run", "--once")

    assert run.returncode == 1
    assert "login --interactive" in run.stdout + run.stderr
    assert world.mock.blacklist_ids("store-c") == store_before
    assert world.hub.snapshot() == hub_before


def _last_cycle_outcome(data_dir: Path) -> str | None:
    from agent.state import LocalState

    state_db = data_dir / "state.sqlite3"
    if not state_db.exists():
        return None
    with LocalState.open(state_db) as state:
        cycle = state.cycles.last("sync")
        return cycle.outcome if cycle else None


def test_run_console_shows_the_cycle_but_not_every_http_request(world: World) -> None:
    b = world.agent("b")

    run = b.cli("run", "--once")

    console = run.stdout + run.stderr
    assert run.returncode == 0, console
    assert "INFO agent." in console  # the agent's own progress is shown...
    assert "HTTP Request:" not in console  # ...without httpx narrating each hub request
