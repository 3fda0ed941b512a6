"""The tray icon: its menu opens a working dashboard, starts a sync and quits; on an X11 desktop it docks in
a real tray (Xvfb and trayer), and without a tray the dashboard goes on alone.
"""

from __future__ import annotations

import gc
import os
import shutil
import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest
from e2e_world import World
from playwright.sync_api import Page, expect
from ui_helpers import Ui

from agent.ui.tray import Tray, TrayActions, tray_problem

LONG = 120_000  # ms


def _wait_for(condition: object, what: str, seconds: float = 120.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.1)


def _refused(url: str) -> bool:
    try:
        httpx.get(url, timeout=2)
    except httpx.TransportError:
        return True
    return False


def test_the_menus_actions_open_a_working_dashboard_sync_now_and_quit(
    world: World, ui_for: type[Ui], page: Page
) -> None:
    a = world.agent("a")
    x, x_name = world.new_buyer("Tray T. Fraudster")
    world.outsider("h1").report((x, x_name))
    world.outsider("h2").report((x, x_name))
    ui = ui_for(a.config_path)
    opened: list[str] = []
    actions = TrayActions(ui.server, open_url=opened.append)

    actions.open_dashboard()
    assert len(opened) == 1
    page.goto(opened[0])  # the link the seller's browser gets: one-time, gives a session
    expect(page.get_by_role("heading", name="Your store at a glance")).to_be_visible()

    job = actions.sync_now()
    assert job.kind == "sync"
    _wait_for(lambda: not job.running, "the sync started from the tray")
    assert job.state == "done", job.error
    assert x in a.blacklist()
    page.goto(ui.url + "/sync")
    expect(page.get_by_text("Sync finished: ok.")).to_be_visible(timeout=LONG)

    actions.quit()
    assert _refused(ui.url)


def test_without_a_desktop_there_is_no_tray_and_the_reason_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    problem = tray_problem()
    assert problem is not None
    assert "DISPLAY" in problem


@pytest.fixture
def x11_display(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A real X server (Xvfb) on a free display number, as this process's DISPLAY."""
    if shutil.which("Xvfb") is None or shutil.which("trayer") is None:
        pytest.skip("needs Xvfb and trayer (Debian: xvfb, trayer; .ci/run installs them)")
    read_end, write_end = os.pipe()
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_end), "-screen", "0", "800x600x24", "-nolisten", "tcp"],
        pass_fds=[write_end],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_end)
    with os.fdopen(read_end) as announced:
        number = announced.readline().strip()
    assert number, "Xvfb did not announce its display"
    monkeypatch.setenv("DISPLAY", f":{number}")
    monkeypatch.setenv("PYSTRAY_BACKEND", "xorg")
    try:
        yield f":{number}"
    finally:
        server.terminate()
        server.wait(timeout=10)


def _tray_host_running(display_name: str) -> bool:
    """Whether a tray host owns the X11 system tray selection (what an icon docks into)."""
    from Xlib import X
    from Xlib.display import Display

    display = Display(display_name)
    try:
        owner = display.get_selection_owner(display.intern_atom("_NET_SYSTEM_TRAY_S0"))
        return bool(owner != X.NONE)
    finally:
        display.close()


def _window_exists(display_name: str, window_id: int) -> bool:
    """Whether the X server still has the window (the icon's window is destroyed when it leaves)."""
    from Xlib.display import Display
    from Xlib.error import BadWindow

    display = Display(display_name)
    try:
        display.create_resource_object("window", window_id).get_attributes()
    except BadWindow:
        return False
    finally:
        display.close()
    return True


def _collect_while_the_display_is_up(tray: Tray) -> None:
    """Let the icon be collected now: pystray's X11 icon closes its connection when collected, which
    raises once the X server is gone, and under Python 3.11.7 such an error raised while pytest parses a
    module turned into "SystemError: AST constructor recursion depth mismatch"."""
    del tray.icon
    gc.collect()


@pytest.fixture
def tray_host(x11_display: str) -> Iterator[str]:
    """trayer, a real system tray, running on the X server."""
    trayer = subprocess.Popen(
        ["trayer", "--edge", "top", "--align", "right", "--widthtype", "pixel", "--width", "120"],
        env={**os.environ, "DISPLAY": x11_display},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for(lambda: _tray_host_running(x11_display), "trayer to own the system tray", 60)
        yield x11_display
    finally:
        trayer.terminate()
        trayer.wait(timeout=10)


def test_on_an_x11_desktop_the_icon_docks_in_the_tray_and_its_menu_works(
    world: World, ui_for: type[Ui], tray_host: str
) -> None:
    assert tray_problem() is None
    ui = ui_for(world.agent("a").config_path)
    opened: list[str] = []
    tray = Tray(TrayActions(ui.server, open_url=opened.append))
    thread = tray.start()
    try:
        assert tray.shown.wait(30)
        # pystray's own record that the tray host took the icon in.
        _wait_for(lambda: tray.icon._systray_manager is not None, "the icon to dock in the tray", 60)
        assert tray.menu_labels() == ["Open dashboard", "Sync now", "Quit"]

        tray.click("Open dashboard")
        assert len(opened) == 1
        response = httpx.get(opened[0], follow_redirects=True, timeout=30)
        assert response.status_code == 200
        assert "Your store at a glance" in response.text

        window = tray.icon._window.id
        assert _window_exists(tray_host, window)
        tray.click("Quit")
        # The icon leaves the tray and the dashboard stops. (pystray's event thread may linger until the
        # display goes away; it is a daemon, and `ui` returns as soon as the dashboard stops.)
        _wait_for(lambda: not _window_exists(tray_host, window), "the icon to leave the tray", 30)
        assert _refused(ui.url)
        thread.join(timeout=30)
        assert not thread.is_alive()  # its event thread ended with it
    finally:
        tray.stop()
        _collect_while_the_display_is_up(tray)


def test_on_a_desktop_without_a_tray_the_dashboard_goes_on_alone(
    world: World, ui_for: type[Ui], x11_display: str
) -> None:
    ui = ui_for(world.agent("a").config_path)
    tray = Tray(TrayActions(ui.server, open_url=lambda _: None))
    thread = tray.start()
    try:
        assert tray.shown.wait(30)  # asked to show; nothing to dock into
        assert tray.icon._systray_manager is None
        response = httpx.get(ui.server.open_link(), follow_redirects=True, timeout=30)
        assert response.status_code == 200
        assert "Your store at a glance" in response.text
        assert thread.is_alive()  # the icon waits quietly; the dashboard never depended on it
    finally:
        tray.stop()
        thread.join(timeout=30)
        _collect_while_the_display_is_up(tray)
