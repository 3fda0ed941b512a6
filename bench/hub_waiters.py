"""Thousands of agents waiting on the feed: the hub's memory per waiter, idle CPU, and one change's fan-out.

Method (bench/README.md, "Waiting agents: memory and fan-out"):
1. A hub with `--agents` sellers (5,000) is served by `blacklist-hub serve` (default settings) on loopback.
2. Every seller polls once (fills the hub's token cache, so it is in the baseline), then the hub's memory
   is read (USS and RSS of all its processes): the baseline.
3. Every agent opens its own connection and waits: `GET /v1/feed?cursor=HEAD&wait=60` with its token and
   the head's ETag (a wait that times out is sent again, as an agent does). Once the hub's `/metrics`
   counts them all waiting, its memory is read again: (waiting − baseline) / agents is the cost of a
   waiter (its connection, request task and future). The hub's CPU over `--idle-seconds` of waiting follows.
4. One seller reports a new buyer: the time until every waiting agent has its page, and the hub's CPU for
   that fan-out (every waiter gets the same page: one database read, shared).
Run: `.venv/bin/python bench/hub_waiters.py` (SQLite, 1 worker; and PostgreSQL, 2 workers, where the change
reaches the other worker's waiters through NOTIFY).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import re
import resource
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
import psutil

from bench import hub_seed
from bench.hub_clients import auth
from bench.hub_load import database
from bench.hub_server import DEFAULT_POSTGRES_URL, HubProcess, hub_server, run_hub_command
from bench.hub_wrk import head

logger = logging.getLogger("bench.hub_waiters")

TARGET_WAITERS = 5000
_WAITERS = re.compile(r"^hub_feed_waiters (\d+)", re.M)


@dataclass
class WaitersRun:
    database: str
    workers: int
    agents: int
    waiting: int
    baseline_uss_mb: float
    waiting_uss_mb: float
    per_waiter_kb: float
    baseline_rss_mb: float
    waiting_rss_mb: float
    idle_cpu_s_per_min: float  # hub CPU per minute while every agent waits and nothing changes
    fanout_s: float  # from the report's answer to the last waiter's page
    fanout_first_s: float
    fanout_cpu_s: float
    answered: int
    load_average: float
    other_answers: int = 0  # neither 304 nor the page with the change (should be 0)


def memory(hub: HubProcess) -> tuple[float, float]:
    """(USS, RSS) of the hub's processes in MB: USS counts pages no other process shares."""
    uss = rss = 0.0
    root = psutil.Process(hub._process.pid)
    for proc in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            info = proc.memory_full_info()
            uss += info.uss
            rss += info.rss
    return uss / 2**20, rss / 2**20


def waiting_now(base_url: str, samples: int) -> int:
    """Waiters counted by the hub; with several workers each scrape reaches one, so take the max per pid."""
    seen = 0
    with httpx.Client(base_url=base_url, timeout=30) as client:
        scrapes = [_WAITERS.search(client.get("/metrics").text) for _ in range(samples)]
        seen = max((int(m.group(1)) for m in scrapes if m), default=0)
    return seen


class Agent:
    """One waiting agent on its own keep-alive connection (a lean HTTP/1.1 client)."""

    def __init__(self, host: str, port: int, token: str, cursor: int, etag: str) -> None:
        self.address = (host, port)
        self.request = (
            f"GET /v1/feed?cursor={cursor}&wait=60 HTTP/1.1\r\nHost: {host}\r\n"
            f"Authorization: Bearer {token}\r\nIf-None-Match: {etag}\r\n\r\n"
        ).encode()
        self.changed_at: float | None = None  # when the page with the new report arrived
        self.other: list[int] = []  # answers that were neither a 304 nor that page
        self.writer: asyncio.StreamWriter | None = None

    async def run(self, opened: asyncio.Semaphore) -> None:
        async with opened:
            reader, self.writer = await asyncio.open_connection(*self.address)
        while True:
            self.writer.write(self.request)
            head_ = await reader.readuntil(b"\r\n\r\n")
            status = int(head_.split(b" ", 2)[1])
            length = re.search(rb"(?i)content-length: *(\d+)", head_)
            body = await reader.readexactly(int(length.group(1))) if length else b""
            if status == 200 and b"fanout1" in body:
                self.changed_at = time.perf_counter()
                return
            if status != 304:  # 304: the wait timed out with nothing new; wait again
                self.other.append(status)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def hold_and_wake(
    hub: HubProcess,
    seeded: hub_seed.Seeded,
    cursor: int,
    etag: str,
    args: argparse.Namespace,
    run: WaitersRun,
) -> None:
    host, port = hub.base_url.removeprefix("http://").split(":")
    agents = [Agent(host, int(port), token, cursor, etag) for token in seeded.tokens]
    opened = asyncio.Semaphore(200)  # connect in waves: the listen backlog is finite
    tasks = [asyncio.create_task(agent.run(opened)) for agent in agents]
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            run.waiting = await asyncio.to_thread(waiting_now, hub.base_url, 4 * run.workers)
            if run.waiting >= len(agents) or (run.workers > 1 and run.waiting * run.workers >= len(agents)):
                break
            await asyncio.sleep(0.5)
        await asyncio.sleep(1)
        run.waiting_uss_mb, run.waiting_rss_mb = memory(hub)
        run.per_waiter_kb = (run.waiting_uss_mb - run.baseline_uss_mb) * 1024 / len(agents)
        cpu = hub.cpu_seconds()
        await asyncio.sleep(args.idle_seconds)
        run.idle_cpu_s_per_min = (hub.cpu_seconds() - cpu) * 60 / args.idle_seconds
        cpu = hub.cpu_seconds()
        report = {"member_id": "fanout1", "name": "Fan Out", "reason": "fraud"}
        async with httpx.AsyncClient(base_url=hub.base_url, timeout=60) as client:
            posted = time.perf_counter()  # waiters are woken before the report's own answer comes back
            response = await client.post(
                "/v1/reports", json={"reports": [report]}, headers=auth(seeded.extra_tokens[0])
            )
            response.raise_for_status()
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=120)
        run.fanout_cpu_s = hub.cpu_seconds() - cpu
        times = [a.changed_at for a in agents if a.changed_at is not None]
        run.answered = len(times)
        run.other_answers = sum(len(a.other) for a in agents)
        run.fanout_s = max(times) - posted
        run.fanout_first_s = min(times) - posted
    finally:
        for task in tasks:
            task.cancel()
        for agent in agents:
            agent.close()


def measure(kind: str, workers: int, url: str, args: argparse.Namespace, logs: Path) -> WaitersRun:
    run_hub_command(url, "migrate")
    seeded = hub_seed.seed(url, entries=args.agents, sellers=args.agents, extra_sellers=1)
    with hub_server(url, workers=workers, log_path=logs / f"{kind}.log") as hub:
        cursor, etag = head(hub.base_url, seeded.tokens[0])
        with httpx.Client(base_url=hub.base_url, timeout=60) as client:  # every token into the cache
            for token in seeded.tokens:
                client.get(
                    "/v1/feed", params={"cursor": cursor}, headers={**auth(token), "If-None-Match": etag}
                )
        time.sleep(2)
        baseline_uss, baseline_rss = memory(hub)
        run = WaitersRun(kind, workers, args.agents, 0, baseline_uss, 0, 0, baseline_rss, 0, 0, 0, 0, 0, 0, 0)
        asyncio.run(hold_and_wake(hub, seeded, cursor, etag, args, run))
        run.load_average = os.getloadavg()[0]
    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--agents", type=int, default=TARGET_WAITERS)
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    parser.add_argument("--json", type=Path)
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    for noisy in ("httpx", "hub"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # 5,000 sockets here, as many in the hub
    plan = [("sqlite", 1), ("postgres", 2)]
    if args.database != "both":
        plan = [p for p in plan if p[0] == args.database]
    runs: list[WaitersRun] = []
    with tempfile.TemporaryDirectory(prefix="hub-waiters-") as tmp:
        for kind, workers in plan:
            with database(kind, args.postgres_url) as url:
                runs.append(measure(kind, workers, url, args, Path(tmp)))
            report(runs[-1])
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in runs], indent=2))
    ok = all(r.answered == r.agents for r in runs)
    return 0 if ok else 1


def report(run: WaitersRun) -> None:
    print(
        f"{run.database} ({run.workers} worker{'s' if run.workers > 1 else ''}): {run.waiting:,} of "
        f"{run.agents:,} agents waiting; hub USS {run.baseline_uss_mb:.1f} -> "
        f"{run.waiting_uss_mb:.1f} MB "
        f"({run.per_waiter_kb:.1f} kB per waiter), RSS {run.baseline_rss_mb:.1f} -> "
        f"{run.waiting_rss_mb:.1f} MB; idle CPU {run.idle_cpu_s_per_min:.2f} s/min; one report reached "
        f"{run.answered:,} waiters {run.fanout_first_s:.2f}-{run.fanout_s:.2f} s after it was sent, "
        f"{run.fanout_cpu_s:.2f} s of hub CPU; {run.other_answers} other answers; "
        f"load average {run.load_average:.1f}"
    )


if __name__ == "__main__":
    sys.exit(main())
