"""The hub's cheap paths under `wrk`: conditional polls and waits per second, latency, hub CPU per request.

Scenarios (each against `blacklist-hub serve`, default settings, on SQLite and on PostgreSQL):
- poll: up-to-date agents poll `GET /v1/feed?cursor=HEAD` with the head's ETag (`If-None-Match`): every
  answer is a 304;
- wait: the same with `wait=1`: each request is held one second (nothing changes) and ends in a 304, so the
  rate is about the number of connections per second and measures what holding and releasing costs.
Every request carries another seller's token (`bench/hub_feed.lua` walks the list), as thousands of agents
would. wrk runs on the same 2 cores as the hub (and PostgreSQL): the hub's CPU time per request says what
idle cores would give. Baseline, in the same run: the same uvicorn serving a bare ASGI app that answers 304
(`bench/wrk_floor.py`), i.e. what the HTTP server alone costs per request on this machine right now.
Run: `.venv/bin/python bench/hub_wrk.py` (needs `wrk`: `apt-get install -y wrk`).
Figures and method: bench/README.md, "Hub cheap paths under wrk".
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from bench import hub_seed
from bench.hub_load import database
from bench.hub_server import DEFAULT_POSTGRES_URL, HubProcess, free_port, hub_server, run_hub_command

logger = logging.getLogger("bench.hub_wrk")

# Each token stands for an agent that polls about once a minute, but wrk sends each of the 2,000 sellers'
# tokens several times a second: the per-seller rate limit (120 a minute) is lifted, or the hub's 429s
# would be what is measured. The limiter itself still runs on every request.
LIFTED_RATE_LIMIT = {
    "BLACKLIST_HUB_RATE_LIMIT_PER_MINUTE": "1000000",
    "BLACKLIST_HUB_RATE_LIMIT_BURST": "100000",
}

SCRIPT = Path(__file__).with_name("hub_feed.lua")
TARGET_PER_S = 2000.0


@dataclass
class WrkRun:
    database: str
    workers: int
    scenario: str
    connections: int
    seconds: float
    requests: int
    per_s: float
    p50_ms: float
    p99_ms: float
    hub_cpu_ms: float  # hub processes' CPU per request
    wrk_cpu_ms: float  # the load generator's CPU per request
    errors: int
    not_304: int  # answers other than 304 counted by the hub (1 worker only; -1 when not checked)
    load_average: float


def head(base_url: str, token: str) -> tuple[int, str]:
    """The head cursor and its ETag, as an up-to-date agent holds them after pulling everything."""
    cursor = 0
    with httpx.Client(base_url=base_url, timeout=120) as client:
        while True:
            response = client.get(
                "/v1/feed",
                params={"cursor": cursor, "limit": 5000},
                headers={"Authorization": f"Bearer {token}"},
            )
            response.raise_for_status()
            page = response.json()
            cursor = page["next_cursor"]
            if not page["has_more"]:
                break
        # The ETag of a poll as the agents send it (default limit: a tag matches only its own limit).
        response = client.get(
            "/v1/feed", params={"cursor": cursor}, headers={"Authorization": f"Bearer {token}"}
        )
        response.raise_for_status()
        return cursor, response.headers["ETag"]


_FEED_COUNTER = re.compile(r'hub_http_requests_total\{method="GET",route="/v1/feed",status="(\d+)"\} (\d+)')


def feed_answers(base_url: str) -> dict[str, int]:
    """Feed answers by status so far, from the hub's /metrics (one worker's counters)."""
    text = httpx.get(f"{base_url}/metrics", timeout=30).text
    return {status: int(count) for status, count in _FEED_COUNTER.findall(text)}


def run_wrk(
    hub: HubProcess,
    tokens: Path,
    cursor: int,
    etag: str,
    *,
    wait: int,
    connections: int,
    threads: int,
    seconds: float,
) -> dict[str, Any]:
    """One wrk run; returns its JSON summary plus the hub's and wrk's CPU seconds."""
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds:g}s",
        f"--timeout={wait + 10}s",
        "-s",
        str(SCRIPT),
        hub.base_url,
        "--",
        str(tokens),
        str(cursor),
        etag,
        str(wait),
    ]
    hub_cpu = hub.cpu_seconds()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=seconds + wait + 120, check=False
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise RuntimeError(f"wrk failed ({result.returncode}): {result.stderr.strip()}")
    summary: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    summary["hub_cpu_s"] = hub.cpu_seconds() - hub_cpu
    summary["wrk_cpu_s"] = (after.ru_utime - children.ru_utime) + (after.ru_stime - children.ru_stime)
    return summary


def _run(
    kind: str, workers: int, scenario: str, connections: int, summary: dict[str, Any], not_304: int
) -> WrkRun:
    requests = int(summary["requests"])
    seconds = float(summary["duration_us"]) / 1e6
    return WrkRun(
        database=kind,
        workers=workers,
        scenario=scenario,
        connections=connections,
        seconds=seconds,
        requests=requests,
        per_s=requests / seconds,
        p50_ms=float(summary["p50_us"]) / 1000,
        p99_ms=float(summary["p99_us"]) / 1000,
        hub_cpu_ms=float(summary["hub_cpu_s"]) / max(1, requests) * 1000,
        wrk_cpu_ms=float(summary["wrk_cpu_s"]) / max(1, requests) * 1000,
        errors=sum(int(v) for v in summary["errors"].values()),
        not_304=not_304,
        load_average=os.getloadavg()[0],
    )


def measure(
    kind: str, workers: int, hub: HubProcess, tokens: Path, seeded: hub_seed.Seeded, args: argparse.Namespace
) -> list[WrkRun]:
    cursor, etag = head(hub.base_url, seeded.tokens[0])
    runs: list[WrkRun] = []
    scenarios = [("poll", 0, args.connections), ("wait", 1, args.wait_connections)]
    for scenario, wait, connections in scenarios:
        # Warm-up: every token once through the hub's token cache, connections opened.
        run_wrk(
            hub, tokens, cursor, etag, wait=wait, connections=connections, threads=args.threads, seconds=2
        )
        time.sleep(wait + 1)  # waits cut off by the warm-up's end are over (answered 499: client gone)
        before = feed_answers(hub.base_url) if workers == 1 else {}
        summary = run_wrk(
            hub,
            tokens,
            cursor,
            etag,
            wait=wait,
            connections=connections,
            threads=args.threads,
            seconds=args.seconds,
        )
        not_304 = -1
        if workers == 1:
            time.sleep(wait + 1)
            after = feed_answers(hub.base_url)
            # 499: waits still held when wrk stopped and closed their connections.
            not_304 = sum(n - before.get(s, 0) for s, n in after.items() if s not in ("304", "499"))
        run = _run(kind, workers, scenario, connections, summary, not_304)
        logger.info("%s", run)
        runs.append(run)
    return runs


@contextlib.contextmanager
def floor_server() -> Iterator[HubProcess]:
    """uvicorn (same HTTP parser and loop as `blacklist-hub serve`) serving `bench/wrk_floor.py`."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "bench.wrk_floor:app", "--port", str(port)]
    command += ["--no-access-log", "--log-level", "warning"]
    root = Path(__file__).resolve().parents[1]
    process = subprocess.Popen(command, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(base_url, timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the baseline server did not start") from None
                time.sleep(0.2)
        yield HubProcess(base_url, process)
    finally:
        process.terminate()
        process.wait(timeout=15)


def measure_floor(tokens: Path, args: argparse.Namespace) -> WrkRun:
    with floor_server() as floor:
        run_wrk(floor, tokens, 1, "x", wait=0, connections=args.connections, threads=args.threads, seconds=2)
        summary = run_wrk(
            floor,
            tokens,
            1,
            "x",
            wait=0,
            connections=args.connections,
            threads=args.threads,
            seconds=args.seconds,
        )
    return _run("baseline", 1, "poll", args.connections, summary, -1)


def print_table(runs: list[WrkRun]) -> None:
    header = (
        f"{'database':<9} {'wk':>2} {'scenario':<8} {'conns':>5} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'hub CPU/req':>11} {'wrk CPU/req':>11} {'errors':>6} {'not 304':>7} {'load':>5}  verdict"
    )
    print(header)
    print("-" * len(header))
    floor = next((r for r in runs if r.database == "baseline"), None)
    for r in runs:
        ok = r.per_s >= TARGET_PER_S and r.errors == 0 and r.not_304 <= 0
        ratio = f" ({r.hub_cpu_ms / floor.hub_cpu_ms:.1f}x baseline CPU)" if floor and r is not floor else ""
        print(
            f"{r.database:<9} {r.workers:>2} {r.scenario:<8} {r.connections:>5} {r.per_s:>7.0f} "
            f"{r.p50_ms:>7.1f} {r.p99_ms:>7.1f} {r.hub_cpu_ms:>9.3f}ms {r.wrk_cpu_ms:>9.3f}ms "
            f"{r.errors:>6} {r.not_304 if r.not_304 >= 0 else '-':>7} {r.load_average:>5.1f}  "
            f"{'ok' if ok else 'MISSED'}{ratio}"
        )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument("--workers", default="1,2", help="comma-separated uvicorn worker counts")
    parser.add_argument("--sellers", type=int, default=2000, help="sellers (tokens the polls rotate through)")
    parser.add_argument("--entries", type=int, default=10000, help="entries on the hub")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections for the polls")
    parser.add_argument("--wait-connections", type=int, default=3000, help="wrk connections for the waits")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (1: leave a core to the hub)")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each measured run")
    parser.add_argument("--json", type=Path, help="also write the raw figures to this file")
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("hub").setLevel(logging.WARNING)
    if shutil.which("wrk") is None:
        print("wrk is not installed (Debian: apt-get install -y wrk)", file=sys.stderr)
        return 2
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # wrk and the hub inherit it
    kinds = ["sqlite", "postgres"] if args.database == "both" else [args.database]
    worker_counts = [int(w) for w in args.workers.split(",")]
    runs: list[WrkRun] = []
    try:
        with tempfile.TemporaryDirectory(prefix="hub-wrk-") as tmp:
            floor_tokens = Path(tmp) / "floor-tokens.txt"
            floor_tokens.write_text("t\n")
            runs.append(measure_floor(floor_tokens, args))
            for kind in kinds:
                with database(kind, args.postgres_url) as url:
                    run_hub_command(url, "migrate")
                    started = time.perf_counter()
                    seeded = hub_seed.seed(url, entries=args.entries, sellers=args.sellers, extra_sellers=0)
                    logger.info("%s seeded in %.1f s", kind, time.perf_counter() - started)
                    tokens = Path(tmp) / "tokens.txt"
                    tokens.write_text("\n".join(seeded.tokens) + "\n")
                    for workers in [w for w in worker_counts if kind != "sqlite" or w == 1]:
                        log = Path(tmp) / f"{kind}-{workers}.log"
                        with hub_server(url, workers=workers, log_path=log, env=LIFTED_RATE_LIMIT) as hub:
                            runs += measure(kind, workers, hub, tokens, seeded, args)
    finally:
        print()
        print_table(runs)
        if args.json:
            args.json.write_text(json.dumps([asdict(run) for run in runs], indent=2))
    hub_runs = [r for r in runs if r.database != "baseline"]
    ok = all(r.per_s >= TARGET_PER_S and r.errors == 0 and r.not_304 <= 0 for r in hub_runs)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
