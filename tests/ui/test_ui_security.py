"""The dashboard answers only this user's browser on this machine: each other request gets 403.

No cookie (another browser, another local user), a foreign `Host` (DNS rebinding), a POST from another site
(the browser withholds the SameSite=Strict cookie) or without the CSRF token: each is refused, and nothing
changes. The real command listens on loopback only.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys

import httpx
import psutil
from e2e_world import World, wait_until
from playwright.sync_api import Browser, Page, Route, expect
from ui_helpers import Ui


def _allowlist(world: World) -> set[str]:
    with world.agent("a").state() as state:
        return state.allowlist.ids()


def test_a_browser_without_the_session_cookie_gets_403(world: World, ui_for: type[Ui], page: Page) -> None:
    ui = ui_for(world.agent("a").config_path)

    response = page.goto(ui.url + "/blacklist")

    assert response is not None
    assert response.status == 403
    expect(page.get_by_role("heading", name="403 Forbidden")).to_be_visible()


def test_the_opening_link_works_once(world: World, ui_for: type[Ui], browser: Browser) -> None:
    ui = ui_for(world.agent("a").config_path)
    link = ui.server.open_link()
    first, second = browser.new_page(), browser.new_page()  # two browser profiles (contexts)
    try:
        first.goto(link)
        expect(first.get_by_role("heading", name="Your store at a glance")).to_be_visible()
        response = second.goto(link)  # the same link again, e.g. copied by another local user
        assert response is not None
        assert response.status == 403
    finally:
        first.context.close()
        second.context.close()


def test_a_foreign_host_header_gets_403_even_with_a_valid_session(world: World, ui_for: type[Ui]) -> None:
    ui = ui_for(world.agent("a").config_path)
    with httpx.Client() as client:
        assert client.get(ui.server.open_link()).status_code == 303  # the client now has the cookie
        assert client.get(ui.url + "/").status_code == 200

        # What a page of evil.example sees after pointing its DNS name at 127.0.0.1 (DNS rebinding).
        port = ui.dashboard.guard.port
        rebound = client.get(ui.url + "/", headers={"host": f"evil.example:{port}"})
        other_port = client.get(ui.url + "/", headers={"host": f"127.0.0.1:{port + 1}"})

    assert rebound.status_code == 403
    assert other_port.status_code == 403


def test_a_post_without_the_csrf_token_gets_403_and_changes_nothing(world: World, ui_for: type[Ui]) -> None:
    ui = ui_for(world.agent("a").config_path)
    with httpx.Client() as client:
        client.get(ui.server.open_link())
        page = client.get(ui.url + "/allowlist").text
        token = re.search(r'name="csrf" value="([^"]+)"', page)
        assert token is not None

        missing = client.post(ui.url + "/allowlist/add", data={"member_id": "100234"})
        wrong = client.post(ui.url + "/allowlist/add", data={"member_id": "100234", "csrf": "guess"})
        foreign = client.post(
            ui.url + "/allowlist/add",
            data={"member_id": "100234", "csrf": token.group(1)},
            headers={"origin": "http://evil.example"},
        )
        assert (missing.status_code, wrong.status_code, foreign.status_code) == (403, 403, 403)
        assert "100234" not in _allowlist(world)

        good = {"member_id": "100234", "csrf": token.group(1)}
        accepted = client.post(ui.url + "/allowlist/add", data=good)
    assert accepted.status_code == 303
    assert "100234" in _allowlist(world)


def test_a_cross_site_form_post_gets_403_in_a_real_browser(
    world: World, ui_for: type[Ui], page: Page
) -> None:
    ui = ui_for(world.agent("a").config_path)
    ui.open(page)  # this browser has a session with the dashboard
    attack = (
        f'<form id="f" method="post" action="{ui.url}/allowlist/add">'
        '<input name="member_id" value="100234"><input name="csrf" value="guess"></form>'
        "<script>document.getElementById('f').submit()</script>"
    )

    def attacker_site(route: Route) -> None:
        route.fulfill(status=200, content_type="text/html", body=attack)

    page.route("http://attacker.example/**", attacker_site)
    with page.expect_response(lambda r: r.url.endswith("/allowlist/add")) as answer:
        page.goto("http://attacker.example/")

    assert answer.value.status == 403
    assert "100234" not in _allowlist(world)


def test_the_ui_command_listens_on_loopback_only_and_prints_a_working_link(world: World) -> None:
    agent = world.agent("a")
    process = subprocess.Popen(
        [sys.executable, "-m", "agent", "--config", str(agent.config_path), "ui", "--no-open"],
        env=world.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        first_line = process.stdout.readline()
        match = re.search(r"Dashboard: (http://127\.0\.0\.1:(\d+)/open\?key=\S+)", first_line)
        assert match, first_line
        link, port = match.group(1), int(match.group(2))

        listening = [
            c.laddr
            for c in psutil.Process(process.pid).net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN
        ]
        assert listening
        assert all(address.ip == "127.0.0.1" for address in listening), listening
        assert {address.port for address in listening} == {port}
        with httpx.Client() as client:
            assert client.get(link).status_code == 303
            assert client.get(f"http://127.0.0.1:{port}/").status_code == 200
    finally:
        process.send_signal(signal.SIGINT)
        wait_until(lambda: process.poll() is not None, timeout=30, what="the dashboard to stop on Ctrl+C")
