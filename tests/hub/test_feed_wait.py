"""Waiting on the feed (`GET /v1/feed?wait=N`) against a real uvicorn server, on SQLite and PostgreSQL.

No timing is asserted: a wait of 60 s that comes back with the change was woken by it (a timed-out wait
answers 304 or an empty page), and "still waiting" is read from the hub's own count of waiters.

The hub runs with its publication rules (an entry needs 2 reporters to be in the feed; changes are
published in batches, here every half second), so these tests also show that a publication wakes waiters.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from hub.admin import HubAdmin
from hub.settings import HubSettings
from tests.hub.support import ServedHub, report

WAIT = 60  # long enough that an answer with the change can only come from the change


def eventually(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    """Poll `condition` until it holds (a generous bound, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.02)


def served(hub_url: str, **overrides: Any) -> ServedHub:
    values: dict[str, Any] = {"rate_limit_per_minute": 100000, "rate_limit_burst": 10000}
    values |= {"publish_interval_seconds": 0.5, "publish_min_reporters": 2}
    return ServedHub(HubSettings(database_url=hub_url, **(values | overrides)))


@pytest.fixture
def live_hub(hub_url: str) -> Iterator[ServedHub]:
    with served(hub_url) as hub:
        yield hub


def sellers(hub: ServedHub, *names: str) -> list[dict[str, str]]:
    with HubAdmin(hub.settings) as admin:
        return [{"Authorization": f"Bearer {admin.add_seller(n, f'store-{n}')[1]}"} for n in names]


def head(client: httpx.Client, headers: dict[str, str]) -> tuple[int, str]:
    """Pull to the end like an agent; returns the cursor and ETag to poll or wait with."""
    cursor = 0
    while True:
        response = client.get("/v1/feed", params={"cursor": cursor}, headers=headers)
        assert response.status_code == 200, response.text
        cursor = response.json()["next_cursor"]
        if not response.json()["has_more"]:
            return cursor, response.headers["ETag"]


class Waiter(threading.Thread):
    """One client waiting on the feed in the background; `response` once answered."""

    def __init__(self, hub: ServedHub, headers: dict[str, str], cursor: int, etag: str | None) -> None:
        super().__init__(daemon=True)
        self.request = (hub.url, headers, cursor, etag)
        self.response: httpx.Response | None = None

    def run(self) -> None:
        url, headers, cursor, etag = self.request
        conditional = {"If-None-Match": etag} if etag else {}
        with httpx.Client(base_url=url, timeout=WAIT + 60) as client:
            self.response = client.get(
                "/v1/feed", params={"cursor": cursor, "wait": WAIT}, headers=headers | conditional
            )

    def answer(self) -> httpx.Response:
        self.join(timeout=WAIT + 90)
        assert self.response is not None, "the waiting request never came back"
        return self.response


def start_waiters(hub: ServedHub, count: int, *args: Any) -> list[Waiter]:
    before = hub.context.notifier.waiting
    waiters = [Waiter(hub, *args) for _ in range(count)]
    for waiter in waiters:
        waiter.start()
    eventually(lambda: hub.context.notifier.waiting >= before + count, f"{count} clients waiting")
    return waiters


def report_by(client: httpx.Client, member_id: str, *reporters: dict[str, str]) -> None:
    for headers in reporters:
        response = client.post("/v1/reports", json={"reports": [report(member_id)]}, headers=headers)
        assert response.status_code == 200, response.text


def published(hub: ServedHub, client: httpx.Client, headers: dict[str, str], member_id: str) -> None:
    eventually(
        lambda: client.get(f"/v1/entries/{member_id}", headers=headers).status_code == 200,
        f"{member_id} published",
    )


def hub_cli(hub: ServedHub, *args: str) -> None:
    """An operator command in its own process (as `blacklist-hub ...` would run)."""
    command = [sys.executable, "-c", "from hub.cli import main; main()", *args]
    result = subprocess.run(
        [*command, "--database-url", hub.settings.database_url], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr


def test_a_waiting_agent_gets_a_second_report_as_soon_as_it_is_published(live_hub: ServedHub) -> None:
    a, b, c = sellers(live_hub, "a", "b", "c")
    with httpx.Client(base_url=live_hub.url) as client:
        cursor, etag = head(client, a)
        (waiter,) = start_waiters(live_hub, 1, a, cursor, etag)
        report_by(client, "m1", b, c)
    answer = waiter.answer()
    assert answer.status_code == 200
    assert [c["member_id"] for c in answer.json()["changes"]] == ["m1"]
    assert answer.json()["next_cursor"] > cursor


def test_a_change_made_by_the_operator_cli_in_another_process_wakes_waiters(live_hub: ServedHub) -> None:
    a, b, c = sellers(live_hub, "a", "b", "c")
    with httpx.Client(base_url=live_hub.url) as client:
        report_by(client, "m1", b, c)
        published(live_hub, client, a, "m1")
        cursor, etag = head(client, a)
    (waiter,) = start_waiters(live_hub, 1, a, cursor, etag)
    hub_cli(live_hub, "entry", "delist", "m1")  # left pending: the served hub publishes it
    answer = waiter.answer()
    assert answer.status_code == 200
    assert [(c["member_id"], c["deleted"]) for c in answer.json()["changes"]] == [("m1", True)]


def test_a_wait_with_nothing_new_ends_in_304_or_an_empty_page(live_hub: ServedHub) -> None:
    (a,) = sellers(live_hub, "a")
    with httpx.Client(base_url=live_hub.url, timeout=30) as client:
        cursor, etag = head(client, a)
        params = {"cursor": cursor, "wait": 1}
        unchanged = client.get("/v1/feed", params=params, headers=a | {"If-None-Match": etag})
        empty = client.get("/v1/feed", params=params, headers=a)
    assert (unchanged.status_code, unchanged.headers["ETag"]) == (304, etag)
    assert empty.status_code == 200
    assert empty.json() == {"changes": [], "next_cursor": cursor, "has_more": False}


def test_a_wait_behind_the_head_is_answered_at_once_with_the_changes(live_hub: ServedHub) -> None:
    a, b, c = sellers(live_hub, "a", "b", "c")
    with httpx.Client(base_url=live_hub.url, timeout=90) as client:
        cursor, _ = head(client, a)
        report_by(client, "m1", b, c)
        published(live_hub, client, a, "m1")
        # Held for up to 60 s only when there is nothing to send: here the change is already there.
        answer = client.get("/v1/feed", params={"cursor": cursor, "wait": WAIT}, headers=a)
    assert [c["member_id"] for c in answer.json()["changes"]] == ["m1"]


def test_waiting_clients_hold_no_thread(hub_url: str) -> None:
    with served(hub_url, threads=2) as hub:
        a, b, c = sellers(hub, "a", "b", "c")
        with httpx.Client(base_url=hub.url, timeout=30) as client:
            cursor, etag = head(client, a)
            waiters = start_waiters(hub, 20, a, cursor, etag)
            # Ten times more waiting requests than threads, and the thread-bound routes still answer...
            assert client.get("/v1/me", headers=b).status_code == 200
            report_by(client, "m1", b, c)
        # ...and the publication of those reports wakes every waiter with it.
        answers = [waiter.answer() for waiter in waiters]
    assert {a.status_code for a in answers} == {200}
    assert all([c["member_id"] for c in a.json()["changes"]] == ["m1"] for a in answers)


def test_a_seller_disabled_while_waiting_is_refused_at_once(live_hub: ServedHub) -> None:
    (a,) = sellers(live_hub, "a")
    with httpx.Client(base_url=live_hub.url, timeout=30) as client:
        cursor, etag = head(client, a)
        (waiter,) = start_waiters(live_hub, 1, a, cursor, etag)
        hub_cli(live_hub, "seller", "disable", "a")  # another process: the hub learns it on its own
        assert waiter.answer().status_code == 403
        poll = client.get("/v1/feed", params={"cursor": cursor}, headers=a | {"If-None-Match": etag})
    assert poll.status_code == 403


def test_a_disabled_seller_or_old_token_gets_no_more_304s(live_hub: ServedHub) -> None:
    a, b = sellers(live_hub, "a", "b")
    with httpx.Client(base_url=live_hub.url, timeout=30) as client:
        cursor, etag = head(client, a)

        def poll(headers: dict[str, str]) -> int:
            conditional = headers | {"If-None-Match": etag}
            return client.get("/v1/feed", params={"cursor": cursor}, headers=conditional).status_code

        assert (poll(a), poll(b)) == (304, 304)  # both tokens now known to the hub process
        with HubAdmin(live_hub.settings) as admin:
            admin.set_enabled("a", False)
            admin.rotate_token("b")
        assert (poll(a), poll(b)) == (403, 401)


def test_a_client_that_hangs_up_while_waiting_leaves_no_waiter_behind(live_hub: ServedHub) -> None:
    (a,) = sellers(live_hub, "a")
    with httpx.Client(base_url=live_hub.url, timeout=30) as client:
        cursor, _ = head(client, a)
    request = (
        f"GET /v1/feed?cursor={cursor}&wait={WAIT} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: {a['Authorization']}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", live_hub.port)) as sock:
        sock.sendall(request.encode())
        eventually(lambda: live_hub.context.notifier.waiting == 1, "the request waits")
    eventually(lambda: live_hub.context.notifier.waiting == 0, "the waiter is dropped with its connection")


def test_wait_over_60_seconds_is_refused_with_422(live_hub: ServedHub) -> None:
    (a,) = sellers(live_hub, "a")
    response = httpx.get(f"{live_hub.url}/v1/feed", params={"wait": 61}, headers=a, timeout=60)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "wait"]


@pytest.mark.postgres
def test_on_postgresql_the_listening_connection_can_have_its_own_url(hub_url: str) -> None:
    if not hub_url.startswith("postgresql"):
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's")
    # The app's pool would go through a transaction-mode pooler; LISTEN needs a session of its own.
    with served(hub_url, listen_database_url=hub_url) as hub:
        a, b, c = sellers(hub, "a", "b", "c")
        with httpx.Client(base_url=hub.url) as client:
            report_by(client, "m1", b, c)
            published(hub, client, a, "m1")
            cursor, etag = head(client, a)
        eventually(lambda: hub.context.notifier.listening, "the hub listens for changes")
        (waiter,) = start_waiters(hub, 1, a, cursor, etag)
        hub_cli(hub, "entry", "delist", "m1")  # another process: only LISTEN tells this hub
        answer = waiter.answer()
    assert [(c["member_id"], c["deleted"]) for c in answer.json()["changes"]] == [("m1", True)]


def test_a_shutdown_answers_waiting_agents_at_once_instead_of_failing_them(hub_url: str) -> None:
    """On SIGTERM uvicorn lets running requests finish, up to its graceful bound, then cancels them into
    a 500: every waiting agent saw "HTTP 500" at each hub restart. They now get a plain poll's answer."""
    with HubAdmin(HubSettings(database_url=hub_url)) as admin:
        token = admin.add_seller("a", "store-a")[1]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [sys.executable, "-c", "from hub.cli import main; main()", "serve", "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--database-url", hub_url], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    url, headers = f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {token}"}
    answers: list[httpx.Response] = []
    try:

        def up() -> bool:
            try:
                return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
            except httpx.TransportError:
                assert process.poll() is None, "serve exited"
                return False

        def waiting() -> float:
            lines = httpx.get(f"{url}/metrics").text.splitlines()
            return sum(float(line.split()[1]) for line in lines if line.startswith("hub_feed_waiters "))

        eventually(up, "the hub serving")
        with httpx.Client(base_url=url) as client:
            cursor, etag = head(client, headers)
        waiter = threading.Thread(
            target=lambda: answers.append(
                httpx.get(
                    f"{url}/v1/feed",
                    params={"cursor": cursor, "wait": WAIT},
                    headers=headers | {"If-None-Match": etag},
                    timeout=WAIT + 60,
                )
            ),
            daemon=True,
        )
        waiter.start()
        eventually(lambda: waiting() >= 1, "the agent waiting")
        process.terminate()
        waiter.join(timeout=WAIT + 90)
    finally:
        process.terminate()
        process.wait(timeout=60)
    (answer,) = answers
    assert answer.status_code == 304  # what a poll at the head gets: nothing new, wait again
    assert answer.headers["ETag"] == etag
    assert answer.headers["Connection"] == "close"
