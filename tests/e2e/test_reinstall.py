"""Rules survive a lost data dir (docs/safety.md rule 10), end to end: real Chromium, the mock backend, the
real hub over HTTP.

Store C's agent blacklisted X automatically and the seller undid Y. C is reinstalled (same config, empty
data dir). The new agent restores the hub's record of C first: it does not push X as C's report (which
would amplify one community report into a permanent one), it does not re-add Y, and when X's reporters
withdraw, X is retracted at C as before.
"""

from __future__ import annotations

import shutil

import httpx
import pytest
from e2e_world import World

pytestmark = pytest.mark.e2e


def publish_now(world: World) -> None:
    """The hub publishes in batches every few seconds: publish the outsiders' reports now, as the CLI can."""
    from hub.admin import HubAdmin
    from hub.settings import HubSettings

    with HubAdmin(HubSettings(database_url=world.hub.database_url)) as admin:
        admin.publish()


def test_a_reinstalled_agent_restores_its_record_before_pushing_anything(world: World) -> None:
    c = world.agent("c")
    x, x_name = world.new_buyer()
    y, y_name = world.new_buyer()
    h1, h2 = world.outsider("h1"), world.outsider("h2")
    for outsider in (h1, h2):
        outsider.report((x, x_name), (y, y_name))
    publish_now(world)
    c.sync()
    assert {x, y} <= c.blacklist()
    with c.session() as agent:
        agent.undo(y)  # the seller disagrees about Y: allowlisted
    c.sync()  # the undo reaches the hub's record
    assert y not in c.blacklist()

    shutil.rmtree(c.data_dir)  # reinstall: same config and secrets, empty data dir
    report = c.sync()

    assert report.ok, report.errors
    assert any("restored this store's record from the hub" in w for w in report.warnings)
    assert x not in report.new_manual  # X is known as the agent's, not taken for the seller's
    assert world.hub.reporters(x) == 2  # not 3: no amplification
    assert y not in c.blacklist()  # the undone buyer stays off
    with c.state() as state:
        assert y in state.allowlist.ids()
        assert state.blacklist.known()[x].origin == "agent"

    response = httpx.delete(
        f"{world.hub.url}/v1/reports/{x}", headers={"Authorization": f"Bearer {h1.token}"}, timeout=10
    )
    response.raise_for_status()
    publish_now(world)
    retracting = c.sync()
    assert [a.member_id for a in retracting.retracted] == [x]
    assert x not in c.blacklist()


def test_share_all_on_a_new_data_dir_never_shares_the_agents_entries(world: World) -> None:
    c = world.agent("c")
    x, x_name = world.new_buyer()
    for name in ("h1", "h2"):
        world.outsider(name).report((x, x_name))
    publish_now(world)
    c.sync()
    assert x in c.blacklist()

    shutil.rmtree(c.data_dir)
    shared = c.share_all()

    assert shared.ok
    assert shared.agent_entries_kept_private == 1
    assert any("restored this store's record" in n for n in shared.notes)
    assert world.hub.reporters(x) == 2
