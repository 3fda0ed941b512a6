"""Benchmark: what an idle sync cycle costs, and how many cycles it takes to protect a store.

1. Idle cycle (nothing new in the store nor on the hub): store C's agent runs a first cycle, then `--rounds`
   idle ones. For each: wall time, requests the backend driver sent (its own counter, retries included),
   logins, and the requests the hub served (read from the hub's /metrics, so counted server-side), of which
   how many were conditional feed requests answered 304. Baseline, measured in the same run, interleaved:
   start Playwright, launch the same Chromium the agent uses, load one backend page, close.
   Targets: at most 3 backend page loads and 1 (conditional) hub request; median wall time within 1.5x of
   the baseline's median.
2. Time-to-protection: stores A and B blacklist buyer X by hand; count store C's cycles until X is on C's
   blacklist and X's order in C is refused (mock control API), with every agent running `sync` cycles:
   best case (C's cycle comes after A's and B's) and worst case (C's comes first in each round).

The mock backend and the hub run in their own processes (`mock-backend serve`, `blacklist-hub serve` on
SQLite); the agents run in this process with an in-memory keyring. Usage:
`.venv/bin/python bench/sync.py [--rounds 5] [--latency-ms 50]`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from agent.backend.browser import LAUNCH_ARGS, managed_chromium, resolve_browser  # noqa: E402
from agent.backend.driver import PlaywrightBackend, open_playwright_backend  # noqa: E402
from agent.config import BackendSettings, HubSettings, Settings  # noqa: E402
from agent.demo import isolated_secrets_and_env  # noqa: E402
from agent.secrets import SecretName, backend_password, store_secret  # noqa: E402
from agent.session import AgentSession  # noqa: E402
from agent.sync.cycle_result import CycleReport  # noqa: E402

BIN = Path(sys.executable).parent
METRIC = re.compile(r'^hub_http_requests_total\{method="(\w+)",route="([^"]*)",status="(\d+)"\} (\d+)$')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serve(command: list[str], health_url: str) -> Iterator[None]:
    """A server in its own process group, until the block ends."""
    process = subprocess.Popen(
        command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(health_url, timeout=5).status_code == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{command[0]} did not start")
            time.sleep(0.2)
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)


def hub_requests(hub_url: str) -> dict[tuple[str, str, str], int]:
    """Requests the hub has served, by (method, route, status); /metrics itself left out."""
    counts: dict[tuple[str, str, str], int] = {}
    for line in httpx.get(f"{hub_url}/metrics", timeout=10).text.splitlines():
        match = METRIC.match(line)
        if match and match.group(2) != "/metrics":
            counts[(match.group(1), match.group(2), match.group(3))] = int(match.group(4))
    return counts


@dataclass
class Agent:
    letter: str
    settings: Settings
    last_backend: PlaywrightBackend | None = None

    def sync(self) -> CycleReport:
        password = backend_password(self.settings)

        def factory() -> PlaywrightBackend:
            self.last_backend = open_playwright_backend(self.settings, password=password)
            return self.last_backend

        # The whole command's work, as `blacklist-agent sync` does it: a session per cycle.
        with AgentSession(self.settings, backend_factory=factory) as agent:
            report = agent.sync()
        if report.outcome != "ok":
            raise RuntimeError(f"store {self.letter}: sync {report.outcome}: {report.errors}")
        return report


@dataclass
class IdleCycle:
    seconds: float
    backend_requests: int
    logins: int
    hub_requests: int
    hub_conditional_304: int


def idle_cycle(agent: Agent, hub_url: str) -> IdleCycle:
    before = hub_requests(hub_url)
    started = time.perf_counter()
    agent.sync()
    seconds = time.perf_counter() - started
    after = hub_requests(hub_url)
    delta = {key: n - before.get(key, 0) for key, n in after.items() if n != before.get(key, 0)}
    backend = agent.last_backend
    assert backend is not None
    return IdleCycle(
        seconds,
        backend.requests,
        backend.logins,
        sum(delta.values()),
        sum(n for (method, route, status), n in delta.items() if route.endswith("/feed") and status == "304"),
    )


def baseline(settings: Settings, url: str) -> float:
    """Start Playwright, launch the agent's Chromium, load one page, close: what any cycle must pay."""
    from playwright.sync_api import sync_playwright

    started = time.perf_counter()
    with sync_playwright() as pw:
        choice = resolve_browser(settings, managed_chromium(pw))  # type: ignore[arg-type]
        kwargs: dict[str, Any] = {"headless": True, "args": LAUNCH_ARGS}
        if choice.executable is not None:
            kwargs["executable_path"] = str(choice.executable)
        else:
            kwargs["channel"] = choice.channel
        browser = pw.chromium.launch(**kwargs)
        page = browser.new_context().new_page()
        page.goto(url, wait_until="domcontentloaded")
        browser.close()
    return time.perf_counter() - started


def protection_cycles(agents: dict[str, Agent], mock_url: str, member_id: str, *, c_first: bool) -> int:
    """Rounds of cycles (C first or last in each) until X is refused in store C; returns C's cycles."""
    control = httpx.Client(base_url=f"{mock_url}/__mock__", timeout=30)
    for store in ("store-a", "store-b"):
        control.post("/blacklist", json={"store_id": store, "member_id": member_id}).raise_for_status()
    order = ["c", "a", "b"] if c_first else ["a", "b", "c"]
    c_cycles = 0
    for _ in range(5):
        for letter in order:
            agents[letter].sync()
            if letter == "c":
                c_cycles += 1
                refused = control.post("/orders", json={"store_id": "store-c", "member_id": member_id})
                if refused.status_code == 403:
                    return c_cycles
    raise RuntimeError("X was still not blocked in C after 5 rounds")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="idle cycles and baselines to measure")
    parser.add_argument("--latency-ms", type=int, default=50, help="mock backend latency per request")
    args = parser.parse_args()

    mock_port, hub_port = free_port(), free_port()
    mock_url, hub_url = f"http://127.0.0.1:{mock_port}", f"http://127.0.0.1:{hub_port}"
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-sync-")))
        stack.enter_context(isolated_secrets_and_env())
        database_url = f"sqlite:///{tmp / 'hub.sqlite3'}"
        from hub.admin import add_seller
        from hub.db import migrate

        migrate(database_url)
        mock_cmd = [str(BIN / "mock-backend"), "serve", "--port", str(mock_port), "--stores", "3"]
        mock_cmd += ["--latency-ms", str(args.latency_ms)]
        stack.enter_context(serve(mock_cmd, f"{mock_url}/__mock__/state"))
        hub_cmd = [
            str(BIN / "blacklist-hub"),
            "serve",
            "--port",
            str(hub_port),
            "--database-url",
            database_url,
        ]
        stack.enter_context(serve(hub_cmd, f"{hub_url}/healthz"))

        state = httpx.get(f"{mock_url}/__mock__/state", timeout=30).json()
        agents: dict[str, Agent] = {}
        for store in state["stores"]:
            letter = store["store_id"].removeprefix("store-")
            settings = Settings(
                data_dir=tmp / f"agent-{letter}",
                backend=BackendSettings(base_url=mock_url, username=store["login"]),
                hub=HubSettings(url=hub_url),
            )
            store_secret(settings, SecretName.BACKEND_PASSWORD, store["password"])
            store_secret(
                settings, SecretName.HUB_TOKEN, add_seller(database_url, store["name"], store["store_id"])
            )
            agents[letter] = Agent(letter, settings)

        c = agents["c"]
        for agent in agents.values():  # first cycles: log in, read everything, share the seeded blacklists
            agent.sync()
        c.sync()  # C catches up with what A and B just shared: from now on nothing is new anywhere

        idle: list[IdleCycle] = []
        base: list[float] = []
        for _ in range(args.rounds):
            idle.append(idle_cycle(c, hub_url))
            base.append(baseline(c.settings, f"{mock_url}/login"))

        buyers = httpx.Client(base_url=f"{mock_url}/__mock__", timeout=30)
        x1 = buyers.post("/buyers", json={"name": "Xavier Best-Case"}).json()["member_id"]
        x2 = buyers.post("/buyers", json={"name": "Xena Worst-Case"}).json()["member_id"]
        started = time.perf_counter()
        best = protection_cycles(agents, mock_url, x1, c_first=False)
        best_s = time.perf_counter() - started
        started = time.perf_counter()
        worst = protection_cycles(agents, mock_url, x2, c_first=True)
        worst_s = time.perf_counter() - started

    idle_s = statistics.median(i.seconds for i in idle)
    base_s = statistics.median(base)
    pages = max(i.backend_requests for i in idle)
    hub = max(i.hub_requests for i in idle)
    conditional = min(i.hub_conditional_304 for i in idle)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    ok_pages, ok_hub, ok_time = pages <= 3, hub <= 1 and conditional == 1, idle_s <= 1.5 * base_s
    print(
        f"== idle sync cycle ({args.rounds} rounds, mock latency {args.latency_ms} ms, load average {load})"
    )
    for n, (i, b) in enumerate(zip(idle, base, strict=True), start=1):
        print(
            f"  round {n}: cycle {i.seconds:5.2f} s ({i.backend_requests} backend requests, "
            f"{i.logins} logins, {i.hub_requests} hub requests, {i.hub_conditional_304} answered 304); "
            f"baseline {b:5.2f} s"
        )
    print(f"backend page loads: {pages} (target <= 3: {'met' if ok_pages else 'MISSED'})")
    print(f"hub requests:       {hub}, conditional 304: {conditional} "
          f"(target 1 conditional: {'met' if ok_hub else 'MISSED'})")  # fmt: skip
    print(f"wall time:          median {idle_s:.2f} s vs baseline {base_s:.2f} s = {idle_s / base_s:.2f}x "
          f"(target <= 1.5x: {'met' if ok_time else 'MISSED'})")  # fmt: skip
    print("== time to protection (A and B blacklist X by hand; every agent runs sync cycles)")
    print(
        f"C's cycle after A's and B's: X refused in C after {best} C cycle(s) ({best_s:.1f} s for the round)"
    )
    print(f"C's cycle before A's and B's: X refused in C after {worst} C cycle(s) ({worst_s:.1f} s)")
    return 0 if ok_pages and ok_hub and ok_time else 1


if __name__ == "__main__":
    raise SystemExit(main())
