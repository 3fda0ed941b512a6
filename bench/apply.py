"""Benchmark: blacklist 200 buyers by link (confirmation page, then *Confirm*) at 50 ms mock latency.

Compares, in one run: the backend driver (`blacklist_many`), a naive baseline (one browser page, full page
loads with nothing blocked: `goto` the link, click *Confirm*, wait for load), a plain HTTP client doing the
same requests without a browser, and the network lower bound (2 requests per buyer x latency / concurrency).
Usage: `.venv/bin/python bench/apply.py [--buyers N] [--naive-buyers M]`; the naive baseline handles the
first M buyers and is extrapolated linearly (it takes minutes).

`--end-to-end` times the whole command instead: stores A and B blacklist N buyers (default 120) by hand and
share them through a hub (`blacklist-hub serve`, SQLite); store C's agent, which has synced once before (its
session and state are saved), then runs `blacklist-agent sync` as a new process, which pulls the N shared
entries and blacklists them. Timed from the process's start to its exit (Python start, state, session check,
reading the store, hub, applying). Against it, the naive script on the same buyers in store D, also timed
whole: launch the browser, log in, then per buyer `goto` the link, click *Confirm*, wait for load.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from contextlib import suppress
from pathlib import Path
from urllib.parse import quote

import httpx
import psutil
from _driver_common import (
    Mock,
    PeakMemory,
    free_port,
    machine,
    mock_backend,
    naive_browser_args,
    naive_login,
    report,
    settings_for,
    timed_plain_http,
)
from playwright.sync_api import sync_playwright
from selectolax.lexbor import LexborHTMLParser

from agent.backend.driver import open_playwright_backend
from agent.models import BlacklistOutcome

BIN = Path(sys.executable).parent


def link(member_id: str, name: str) -> str:
    return f"/blacklist/add?memberId={quote(member_id, safe='')}&name={quote(name, safe='')}"


async def plain_http_apply(mock: Mock, buyers: list[tuple[str, str]], concurrency: int) -> float:
    """Confirmation page and form post with httpx and no browser: what this server allows."""

    async def apply(client: httpx.AsyncClient, buyer: tuple[str, str]) -> None:
        page = LexborHTMLParser((await client.get(link(*buyer))).text)
        form = page.css("form#blacklist-confirm-form input")
        data = {i.attributes["name"] or "": i.attributes.get("value") or "" for i in form}
        (await client.post("/blacklist/add", data=data)).raise_for_status()

    return await timed_plain_http(mock, buyers, concurrency, apply)


def naive_script(mock: Mock, store_id: str, buyers: list[tuple[str, str]]) -> float:
    """The naive script, timed whole: launch, log in, then one full page load and click per buyer."""
    start = time.perf_counter()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(**naive_browser_args(pw))
        page = browser.new_page()
        naive_login(page, mock, store_id)
        for member_id, name in buyers:
            page.goto(mock.url + link(member_id, name), wait_until="load")
            with page.expect_navigation(wait_until="load"):
                page.click("#confirm-button")
            if page.locator("#result-added").count() != 1:
                raise RuntimeError(f"naive script failed on {member_id}")
        browser.close()
    return time.perf_counter() - start


def agent_command(mock: Mock, hub_url: str, hub_db: str, store_id: str, folder: Path) -> list[str]:
    """Write store `store_id`'s agent config; returns `blacklist-agent --config ... sync --json`."""
    from hub.admin import add_seller

    store = mock.store(store_id=store_id)
    config = folder / f"{store_id}.toml"
    config.write_text(
        f'data_dir = "{folder / store_id}"\n'
        f'[backend]\nbase_url = "{mock.url}"\nusername = "{store["login"]}"\n'
        f'[hub]\nurl = "{hub_url}"\n',
        encoding="utf-8",
    )
    token = add_seller(hub_db, store["name"], store_id)
    secrets = folder / f"{store_id}.env"
    secrets.write_text(f"{store['password']}\n{token}\n", encoding="utf-8")
    return [str(BIN / "blacklist-agent"), "--config", str(config), "sync", "--json"]


def run_agent(command: list[str]) -> tuple[float, dict[str, object]]:
    password, token = Path(command[2]).with_suffix(".env").read_text(encoding="utf-8").split()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BLACKLIST_AGENT_", "BLACKLIST_HUB_"))}
    env |= {"BLACKLIST_AGENT_BACKEND_PASSWORD": password, "BLACKLIST_AGENT_HUB_TOKEN": token}
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[3:])} exited {done.returncode}: {done.stderr[-2000:]}")
    report: dict[str, object] = json.loads(done.stdout)
    return seconds, report


def end_to_end(args: argparse.Namespace) -> int:
    """The whole `blacklist-agent sync` command against the whole naive script, on the same buyers."""
    from hub.db import migrate

    count = args.buyers
    with (
        tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp,
        mock_backend(customers=200, latency_ms=args.latency_ms, stores=4) as mock,
    ):
        folder = Path(tmp)
        hub_db = f"sqlite:///{folder / 'hub.sqlite3'}"
        migrate(hub_db)
        hub_port = free_port()
        hub_url = f"http://127.0.0.1:{hub_port}"
        hub_cmd = [str(BIN / "blacklist-hub"), "serve", "--port", str(hub_port), "--database-url", hub_db]
        hub = subprocess.Popen(hub_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for(f"{hub_url}/healthz")
            commands = {
                s: agent_command(mock, hub_url, hub_db, s, folder) for s in ("store-a", "store-b", "store-c")
            }
            run_agent(commands["store-c"])  # C's earlier cycle: logs in, reads the store, saves its state
            buyers = [
                (b["member_id"], b["name"])
                for b in (
                    mock.control("POST", "/buyers", json={"name": f"Shared Fraudster {i}"})
                    for i in range(count)
                )
            ]
            for store_id in ("store-a", "store-b"):
                for member_id, _ in buyers:
                    mock.control("POST", "/blacklist", json={"store_id": store_id, "member_id": member_id})
                run_agent(commands[store_id])  # shares them
            whole_s, report = run_agent(commands["store-c"])
            now_listed = {e["member_id"] for e in mock.store(store_id="store-c")["blacklist"]}
            missing = [m for m, _ in buyers if m not in now_listed]
            if missing:
                print(
                    f"the sync left {len(missing)} of {count} buyers off C's blacklist: {report}",
                    file=sys.stderr,
                )
                return 1
            naive_s = naive_script(mock, "store-d", buyers)
        finally:
            hub.terminate()
            hub.wait(20)
    speedup = naive_s / whole_s
    ok = speedup >= 10
    print(f"== end to end: `blacklist-agent sync` adding {count} shared buyers, {args.latency_ms} ms latency")
    print(f"machine:      {machine()}")
    print(
        f"sync command: {whole_s:7.2f} s  (a new process, saved session and state; {count} added, verified)"
    )
    print(f"naive script: {naive_s:7.2f} s  (launch, log in, {count} x goto link + Confirm, all measured)")
    print(f"vs naive:     {speedup:7.1f}x faster  (target >= 10x: {'met' if ok else 'MISSED'})")
    return 0 if ok else 1


def wait_for(url: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with suppress(httpx.HTTPError):
            if httpx.get(url, timeout=5).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--end-to-end", action="store_true", help="time the whole `blacklist-agent sync`")
    parser.add_argument("--buyers", type=int, default=None, help="default 200 (end to end: 120)")
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument(
        "--naive-buyers", type=int, default=40, help="buyers the naive baseline does (0 = all)"
    )
    args = parser.parse_args()
    if args.end_to_end:
        args.buyers = args.buyers or 120
        return end_to_end(args)
    args.buyers = args.buyers or 200
    naive_count = args.buyers if args.naive_buyers <= 0 else min(args.naive_buyers, args.buyers)

    with mock_backend(customers=2 * args.buyers + naive_count + 50, latency_ms=args.latency_ms) as mock:
        store = mock.store(full=True)
        listed = {e["member_id"] for e in store["blacklist"]}
        free = [(c["member_id"], c["name"]) for c in store["customers"] if c["member_id"] not in listed]
        ours, floor_set, naive_set = (
            free[: args.buyers],
            free[args.buyers : 2 * args.buyers],
            free[2 * args.buyers : 2 * args.buyers + naive_count],
        )
        mock_proc = psutil.Process(mock.process.pid)

        settings = settings_for(mock, concurrency=args.concurrency)
        with (
            PeakMemory(exclude=mock_proc) as driver_mem,
            open_playwright_backend(settings, password=store["password"]) as backend,
        ):
            backend.ensure_session()  # not timed: a scheduled run reuses its saved session
            start = time.perf_counter()
            results = list(backend.blacklist_many(ours))
            driver_s = time.perf_counter() - start
        added = {r.member_id for r in results if r.outcome is BlacklistOutcome.ADDED}
        now_listed = {e["member_id"] for e in mock.store()["blacklist"]}
        if added != {b[0] for b in ours} or not added <= now_listed:
            print(f"driver added {len(added)} of {len(ours)} buyers", file=sys.stderr)
            return 1

        floor_s = asyncio.run(plain_http_apply(mock, floor_set, args.concurrency))

        with PeakMemory(exclude=mock_proc) as naive_mem, sync_playwright() as pw:
            browser = pw.chromium.launch(**naive_browser_args(pw))
            page = browser.new_page()
            naive_login(page, mock)
            start = time.perf_counter()
            for member_id, name in naive_set:
                page.goto(mock.url + link(member_id, name), wait_until="load")
                with page.expect_navigation(wait_until="load"):
                    page.click("#confirm-button")
                if page.locator("#result-added").count() != 1:
                    print(f"naive baseline failed on {member_id}", file=sys.stderr)
                    return 1
            naive_measured = time.perf_counter() - start
            browser.close()
        naive_s = naive_measured * args.buyers / naive_count
        note = (
            f"measured on all {args.buyers} buyers"
            if naive_count == args.buyers
            else f"measured {naive_measured:.2f} s on {naive_count} of {args.buyers} buyers, "
            "extrapolated linearly"
        )

    ok = report(
        f"apply: blacklist {args.buyers} buyers by link, {args.latency_ms} ms latency",
        driver_s=driver_s,
        naive_s=naive_s,
        naive_note=note,
        requests=2 * args.buyers,
        latency_ms=args.latency_ms,
        concurrency=args.concurrency,
        driver_mem=driver_mem,
        naive_mem=naive_mem,
        floor_s=floor_s,
        extra=f"driver: {len(added)} added, verified in the mock's state",
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
