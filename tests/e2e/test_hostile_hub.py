"""A hub that turns hostile or broken mid-life, end to end: real Chromium, the mock backend, a real hub first.

Store C's agent works with the real hub, then the hub answers nonsense (a captive portal's HTML with 200,
a refusal that echoes the token). The cycle goes on with the cached shared list: nothing is retracted,
"check before shipping" still alerts, the cycle is a partial success that says what was wrong, and the
token appears neither in the cycle's JSON nor anywhere in the local state.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from e2e_world import World

from agent.hub_client import HubClient
from agent.secrets import hub_token
from agent.session import AgentSession

pytestmark = pytest.mark.e2e


def publish_now(world: World) -> None:
    """The hub publishes in batches every few seconds: publish the outsiders' reports now, as the CLI can."""
    from hub.admin import HubAdmin
    from hub.settings import HubSettings

    with HubAdmin(HubSettings(database_url=world.hub.database_url)) as admin:
        admin.publish()


HTML = b"<html><body>Please log in to the hotel Wi-Fi</body></html>"


class BrokenHub:
    """Answers HTML with 200 to everything but what `json_answers` names (path -> (status, body))."""

    def __init__(self, json_answers: dict[str, tuple[int, Any]]) -> None:
        answers = json_answers

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                path = self.path.split("?")[0]
                if path in answers:
                    status, body = answers[path]
                    kind, data = "application/json", json.dumps(body).encode()
                else:
                    status, kind, data = 200, "text/html", HTML
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _answer

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def broken_hub_factory() -> Iterator[list[BrokenHub]]:
    made: list[BrokenHub] = []
    yield made
    for hub in made:
        hub.close()


def test_a_hub_gone_bad_leaves_a_partial_cycle_on_the_cached_list(
    world: World, broken_hub_factory: list[BrokenHub]
) -> None:
    c = world.agent("c")
    x, x_name = world.new_buyer()
    z, z_name = world.new_buyer()  # reported too, but the seller of C allowed them: Z may order at C
    for name in ("h1", "h2"):
        world.outsider(name).report((x, x_name), (z, z_name))
    publish_now(world)
    with c.session() as agent:
        agent.allow(z)
    assert c.sync().ok
    assert x in c.blacklist()

    token = hub_token(c.settings)
    broken = BrokenHub(
        {
            "/v1/me/record": (200, {"auto": [], "allow": []}),
            "/v1/reports": (422, {"detail": f"reports[0]: token {token} is not welcome"}),
        }
    )
    broken_hub_factory.append(broken)
    mine, _ = world.new_buyer()
    world.blacklist_by_hand("c", mine)  # a report to push: the broken hub refuses it, echoing the token
    world.mock.place_order("store-c", z)  # check before shipping: the lookup fails, the cache answers

    with AgentSession(c.settings, hub=HubClient(broken.url, token, max_retries=0)) as agent:
        report = agent.sync()
        stored = "\n".join(agent.state.conn.iterdump())  # cycle records, outbox errors, everything

    assert report.outcome == "partial"
    assert any("is not JSON (text/html)" in e for e in report.errors)  # the feed: says what was wrong
    assert report.retracted == []
    assert x in c.blacklist()  # the cached list still says X passes
    assert [a["member_id"] for a in report.alerts] == [z]
    assert report.pushes_rejected == [mine]
    output = json.dumps(report.as_dict())
    assert token not in output
    assert token not in stored
    assert "token *** is not welcome" in stored  # the refusal is kept for `status`, masked
