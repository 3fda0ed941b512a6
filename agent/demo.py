"""`blacklist-agent demo`: the sharing story, told for real on this machine in under a minute.

A mock seller backend with three stores and an embedded hub (SQLite in a temporary folder) start on free
loopback ports; three agents (one per store, each with its own temporary data dir) run the real commands'
code: the browser driver, the hub client, the sync engine. Stores A and B blacklist buyer X by hand, A also
blacklists Y; A and B share; C syncs and gets X (two reporters) but not Y (one reporter, below the
threshold); X then tries to order in C and is refused.

The demo never touches the user's config or keyring: secrets live in an in-memory keyring installed for the
demo's duration, `BLACKLIST_AGENT_*` variables are set aside, and everything it starts is stopped and
deleted at the end. It checks every claim it makes and returns 1 when one does not hold, so it doubles as
a smoke test of the whole product.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import keyring
import keyring.backend
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from agent.config import BackendSettings, HubSettings, Settings
from agent.secrets import SecretName, store_secret
from agent.session import AgentSession
from agent.sync.cycle_result import CycleReport, ShareReport

logger = logging.getLogger(__name__)

BUYER_X = ("Xavier Crook", "900000001")
BUYER_Y = ("Yolanda Maybe", "900000002")
STORE_LETTERS = ("A", "B", "C")


class _InstanceOnlyPriority:
    """keyring picks its default backend among registered classes by their class-level priority; raising
    there keeps this backend out of that choice (it is only ever installed explicitly by the demo)."""

    def __get__(self, instance: object, owner: type | None = None) -> float:
        if instance is None:
            raise RuntimeError("the demo's in-memory keyring is never chosen automatically")
        return 1.0


class MemoryKeyring(keyring.backend.KeyringBackend):
    """A keyring that lives and dies with the demo: the user's real keyring is never read or written."""

    priority = _InstanceOnlyPriority()

    def __init__(self) -> None:
        self._items: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self._items.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self._items[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self._items.pop((service, username), None)


@contextlib.contextmanager
def isolated_secrets_and_env() -> Iterator[None]:
    """Set aside every BLACKLIST_AGENT_* variable (they would steer the demo's agents) and install an
    in-memory keyring; both are restored on exit."""
    saved = {k: v for k, v in os.environ.items() if k.startswith(("BLACKLIST_AGENT_", "BLACKLIST_HUB_"))}
    for name in saved:
        del os.environ[name]
    previous = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring())
    try:
        yield
    finally:
        keyring.set_keyring(previous)
        os.environ.update(saved)


@dataclass
class DemoStore:
    """One store of the story and the agent its seller runs."""

    letter: str
    store_id: str
    title: str
    settings: Settings

    def share_all(self) -> ShareReport:
        with AgentSession(self.settings) as agent:
            return agent.share_all()

    def sync(self) -> CycleReport:
        with AgentSession(self.settings) as agent:
            return agent.sync()

    def provenance(self, member_id: str) -> dict[str, Any] | None:
        with AgentSession(self.settings) as agent:
            entry = agent.state.blacklist.automatic().get(member_id)
        return dict(entry.provenance) if entry is not None else None


@dataclass
class Story:
    """What the demo claims, checked as it goes; `failures` lists every claim that did not hold."""

    console: Console
    failures: list[str] = field(default_factory=list)

    def say(self, text: str) -> None:
        self.console.print(text)

    def check(self, claim: str, holds: bool) -> None:
        mark = "[green]✔[/]" if holds else "[bold red]✘[/]"
        self.console.print(f"  {mark} {escape(claim)}")
        if not holds:
            self.failures.append(claim)


def run_demo(console: Console) -> int:
    """Tell the story; 0 when every claim held, 1 otherwise. Everything started is stopped and deleted."""
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="blacklist-demo-")))
        stack.enter_context(isolated_secrets_and_env())
        story = Story(console)
        _tell(story, tmp, stack)
    elapsed = time.monotonic() - started
    if story.failures:
        console.print(f"[bold red]The demo did not go as told ({len(story.failures)} claim(s) failed).[/]")
        return 1
    console.print(f"[bold green]Demo complete in {elapsed:.0f} s.[/] Everything it started has been stopped.")
    return 0


def _tell(story: Story, tmp: Path, stack: contextlib.ExitStack) -> None:
    from fixtures.mock_backend.config import MockConfig
    from fixtures.mock_backend.server import MockServer
    from fixtures.mock_backend.testing import MockControl

    console = story.console
    console.rule("[bold]Blacklist sharing: the demo")
    with console.status("Starting a mock seller backend with three stores and a sharing hub"):
        mock_server = stack.enter_context(MockServer(MockConfig(stores=3, customers=30, orders=20)))
        mock = MockControl(mock_server.url)
        stack.callback(mock.close)
        hub_url, tokens = _start_hub(tmp, stack)
    stores = _agents(mock, mock_server.url, hub_url, tokens, tmp)
    a, b, c = stores
    story.say(f"Mock seller backend: {mock_server.url}   Hub: {hub_url} (SQLite in a temporary folder)")
    for store in stores:
        where = escape(str(store.settings.data_dir))
        story.say(f"  Store {store.letter}: {escape(store.title)}, its agent's data in {where}")

    console.rule("1. Two stores get hurt by the same buyer")
    x_name, x_id = BUYER_X
    y_name, y_id = BUYER_Y
    mock.add_buyer(x_name, member_id=x_id)
    mock.add_buyer(y_name, member_id=y_id)
    for store in (a, b):
        mock.place_order(store.store_id, x_id)
    mock.place_order(a.store_id, y_id)
    story.say(
        f"Buyer X, {x_name} (member {x_id}), ordered in stores A and B, then claimed non-delivery twice."
    )
    story.say(f"Buyer Y, {y_name} (member {y_id}), had one dispute in store A.")
    mock.blacklist(a.store_id, x_id)
    mock.blacklist(b.store_id, x_id)
    mock.blacklist(a.store_id, y_id)
    story.say("The sellers of A and B blacklist X by hand in their seller center; A also blacklists Y.")

    console.rule("2. Stores A and B share their blacklists")
    for store in (a, b):
        with console.status(f"Store {store.letter}: share-all (reading the blacklist in a browser)"):
            shared = store.share_all()
        story.say(
            f"Store {store.letter}: share-all pushed {shared.pushed} of the seller's "
            f"{shared.sellers_entries} entries to the hub."
        )
        story.check(f"store {store.letter}'s share-all succeeded", shared.ok)

    console.rule("3. Store C syncs")
    story.say(
        f"Store C has never met X or Y. Its policy: blacklist a buyer reported by at least "
        f"{c.settings.policy.min_reporters} stores."
    )
    with console.status("Store C: sync (read blacklist and orders, pull the shared list, apply the policy)"):
        report = c.sync()
    story.say(f"Store C's sync: {report.outcome}; {len(report.added)} buyer(s) blacklisted automatically.")
    c_list = set(mock.blacklist_ids(c.store_id))
    provenance = c.provenance(x_id) or {}
    story.check("X is now blacklisted in store C", x_id in c_list)
    story.check(
        f"with provenance: {provenance.get('reporters')} reporting stores, score {provenance.get('score')}",
        provenance.get("reporters") == 2,
    )
    story.check("Y is not blacklisted in store C (one reporter is below the threshold)", y_id not in c_list)
    story.check("store C's sync succeeded", report.ok)

    console.rule("4. X tries to order in store C")
    x_order = mock.request("POST", "/orders", json={"store_id": c.store_id, "member_id": x_id})
    y_order = mock.request("POST", "/orders", json={"store_id": c.store_id, "member_id": y_id})
    story.check(f"X's order in store C is refused (HTTP {x_order.status_code})", x_order.status_code == 403)
    story.check(f"Y can still order in store C (HTTP {y_order.status_code})", y_order.status_code == 201)

    table = Table(title="Who is protected now", title_justify="left")
    for heading in ("buyer", "member", "reported by", "store A", "store B", "store C", "orders in C"):
        table.add_column(heading)
    lists = {s.letter: set(mock.blacklist_ids(s.store_id)) for s in stores}
    rows = (("X", BUYER_X, "A, B", x_order), ("Y", BUYER_Y, "A", y_order))
    for label, (name, member_id), reporters, order in rows:
        cells = []
        for store in stores:
            if member_id not in lists[store.letter]:
                cells.append("-")
            else:
                cells.append("[green]by the agent[/]" if store is c else "by hand")
        verdict = "[green]refused[/]" if order.status_code == 403 else "[yellow]accepted[/]"
        table.add_row(f"{label}: {escape(name)}", member_id, reporters, *cells, verdict)
    console.print(table)


def _start_hub(tmp: Path, stack: contextlib.ExitStack) -> tuple[str, list[str]]:
    from fixtures.serving import ThreadedServer
    from hub.admin import add_seller
    from hub.app import create_app
    from hub.db import migrate
    from hub.settings import HubSettings as HubServerSettings

    url = f"sqlite:///{tmp / 'hub.sqlite3'}"
    migrate(url)
    tokens = [add_seller(url, f"Store {letter}", f"store-{letter.lower()}") for letter in STORE_LETTERS]
    # Publication with each write: a hub batches it (every 2 s by default, mixing sellers, so the feed's order
    # tells nobody who reported what); with three stores in one minute the demo shows the rule, not the wait.
    settings = HubServerSettings(database_url=url, publish_interval_seconds=0)
    server = ThreadedServer(create_app(settings), "demo-hub").start()
    stack.callback(server.stop)
    _wait_healthy(server.url)
    return server.url, tokens


def _wait_healthy(url: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("the demo hub did not become healthy")
        time.sleep(0.05)


def _agents(mock: Any, backend_url: str, hub_url: str, tokens: list[str], tmp: Path) -> list[DemoStore]:
    stores = []
    for letter, token in zip(STORE_LETTERS, tokens, strict=True):
        store_id = f"store-{letter.lower()}"
        info = mock.store(store_id)
        settings = Settings(
            data_dir=tmp / f"agent-{letter.lower()}",
            backend=BackendSettings(base_url=backend_url, username=info["login"]),
            hub=HubSettings(url=hub_url),
        )
        store_secret(settings, SecretName.BACKEND_PASSWORD, info["password"])
        store_secret(settings, SecretName.HUB_TOKEN, token)
        stores.append(DemoStore(letter, store_id, str(info.get("name") or store_id), settings))
    return stores
