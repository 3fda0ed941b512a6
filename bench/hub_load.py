"""Hub load benchmark: seed a big hub, serve it with `blacklist-hub serve`, measure what agents do to it.

Workloads (see bench/README.md, section "Hub load", for method and recorded figures):
- full pull: a new agent pulls the whole feed from cursor 0 at the maximum page size;
- delta pulls: many agents, each some changes behind, pull what they missed (p50/p99 latency);
- 304s: up-to-date agents ask with `If-None-Match` (conditional pulls per second);
- snapshot: a seller joins with a 5,000-report `PUT /v1/reports` ("share all").

Run: `.venv/bin/python bench/hub_load.py` (full size, SQLite and PostgreSQL, 1 and 2 workers), or
`--quick` for a smoke run of a few seconds. Exits 1 when a target is missed in a full-size run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import platform
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench import hub_clients, hub_seed
from bench.hub_server import (
    DEFAULT_POSTGRES_URL,
    HubProcess,
    hub_server,
    postgres_database,
    run_hub_command,
    sqlite_database,
)

logger = logging.getLogger("bench.hub_load")

TARGET_FULL_PULL_S = 3.0
TARGET_SNAPSHOT_S = 1.0
TARGET_CONDITIONAL_PER_S = 500.0


@dataclass(frozen=True)
class Scale:
    entries: int
    sellers: int
    snapshot_reports: int
    delta_requests: int
    delta_max_behind: int
    conditional_seconds: float
    concurrency: int
    full_pull_agents: int


FULL = Scale(
    entries=100_000,
    sellers=1_000,
    snapshot_reports=5_000,
    delta_requests=2_000,
    delta_max_behind=500,
    conditional_seconds=5.0,
    concurrency=32,
    full_pull_agents=4,
)
QUICK = Scale(
    entries=5_000,
    sellers=50,
    snapshot_reports=1_000,
    delta_requests=200,
    delta_max_behind=200,
    conditional_seconds=1.0,
    concurrency=8,
    full_pull_agents=2,
)


@dataclass
class Run:
    """Figures of one (database, workers) configuration; `*_cpu_*` are the hub processes' CPU time."""

    database: str
    workers: int
    seed_seconds: float
    seed_method: str
    full_pull_s: float = 0.0
    full_pull_cpu_s: float = 0.0
    full_pull_client_cpu_s: float = 0.0
    full_pull_entries: int = 0
    full_pull_pages: int = 0
    concurrent_full_pull_max_s: float = 0.0
    delta_p50_ms: float = 0.0
    delta_p99_ms: float = 0.0
    delta_per_s: float = 0.0
    delta_cpu_ms: float = 0.0
    delta_failures: int = 0
    conditional_per_s: float = 0.0
    conditional_cpu_ms: float = 0.0
    conditional_unexpected: int = 0
    snapshot_s: float = 0.0
    snapshot_cpu_s: float = 0.0
    snapshot_counts: dict[str, int] = field(default_factory=dict)
    snapshot_repeat_s: float = 0.0
    load_average: float = 0.0


@contextlib.contextmanager
def database(kind: str, postgres_url: str) -> Iterator[str]:
    if kind == "sqlite":
        with sqlite_database() as url:
            yield url
    else:
        with postgres_database(postgres_url) as url:
            yield url


class CpuMeter:
    """CPU seconds the hub spent between `start()` and `stop()`."""

    def __init__(self, hub: HubProcess) -> None:
        self.hub = hub
        self.began = 0.0

    def start(self) -> None:
        self.began = self.hub.cpu_seconds()

    def stop(self) -> float:
        return self.hub.cpu_seconds() - self.began


def measure(hub: HubProcess, seeded: hub_seed.Seeded, scale: Scale, run: Run, snapshot_token: str) -> None:
    """Run every workload once against the hub, filling `run`."""
    base_url, tokens, cpu = hub.base_url, seeded.tokens, CpuMeter(hub)
    warm = asyncio.run(hub_clients.full_pull(base_url, tokens[0]))  # warms caches and gives the head
    head = warm.next_cursor

    cpu.start()
    pull = asyncio.run(hub_clients.full_pull(base_url, tokens[1 % len(tokens)]))
    run.full_pull_cpu_s = cpu.stop()
    run.full_pull_client_cpu_s = pull.client_cpu_seconds
    run.full_pull_s, run.full_pull_entries, run.full_pull_pages = pull.seconds, pull.entries, pull.pages
    logger.info(
        "full pull: %.2f s (hub CPU %.2f s), %d entries", pull.seconds, run.full_pull_cpu_s, pull.entries
    )

    agents = tokens[2 : 2 + scale.full_pull_agents]
    together = asyncio.run(hub_clients.concurrent_full_pulls(base_url, agents))
    run.concurrent_full_pull_max_s = max(together.samples)

    cpu.start()
    delta = asyncio.run(
        hub_clients.delta_pulls(
            base_url,
            tokens,
            head,
            requests=scale.delta_requests,
            concurrency=scale.concurrency,
            max_behind=scale.delta_max_behind,
        )
    )
    run.delta_cpu_ms = cpu.stop() / len(delta.samples) * 1000
    run.delta_p50_ms = delta.percentile(50) * 1000
    run.delta_p99_ms = delta.percentile(99) * 1000
    run.delta_per_s, run.delta_failures = delta.per_second, delta.failures
    logger.info("delta pulls: p50 %.1f ms, p99 %.1f ms", run.delta_p50_ms, run.delta_p99_ms)

    cpu.start()
    conditional = hub_clients.conditional_pulls(
        base_url, tokens, head, seconds=scale.conditional_seconds, concurrency=scale.concurrency
    )
    run.conditional_cpu_ms = cpu.stop() / max(1, conditional.requests) * 1000
    run.conditional_per_s, run.conditional_unexpected = conditional.per_second, conditional.unexpected
    logger.info("conditional pulls: %.0f/s (%d not 304)", conditional.per_second, conditional.unexpected)

    # A new seller shares its whole blacklist: buyers already on the hub, so the number of entries
    # (and thus the next configuration's full pull) stays the same, while every one of them changes.
    reports = [hub_clients.report(n, reason_offset=3) for n in range(scale.snapshot_reports)]
    cpu.start()
    run.snapshot_s, run.snapshot_counts = hub_clients.snapshot(base_url, snapshot_token, reports)
    run.snapshot_cpu_s = cpu.stop()
    run.snapshot_repeat_s, _ = hub_clients.snapshot(base_url, snapshot_token, reports)
    logger.info(
        "snapshot: %.2f s %s, repeat %.2f s", run.snapshot_s, run.snapshot_counts, run.snapshot_repeat_s
    )
    run.load_average = os.getloadavg()[0]


def rows(run: Run, scale: Scale) -> list[tuple[str, str, str, str, str]]:
    """(measure, value, hub CPU, target, verdict) lines for one configuration."""

    def verdict(ok: bool) -> str:
        return "ok" if ok else "MISSED"

    return [
        (
            f"full pull of {run.full_pull_entries:,} entries ({run.full_pull_pages} pages)",
            f"{run.full_pull_s:.2f} s",
            f"{run.full_pull_cpu_s:.2f} s",
            f"<= {TARGET_FULL_PULL_S:.0f} s",
            # A pull that misses entries is wrong, however fast.
            verdict(run.full_pull_s <= TARGET_FULL_PULL_S and run.full_pull_entries == scale.entries),
        ),
        ("  client CPU of that pull (httpx + json)", f"{run.full_pull_client_cpu_s:.2f} s", "", "", ""),
        (
            f"{scale.full_pull_agents} full pulls at once (slowest)",
            f"{run.concurrent_full_pull_max_s:.2f} s",
            "",
            "",
            "",
        ),
        (f"delta pull p50 (<= {scale.delta_max_behind} behind)", f"{run.delta_p50_ms:.1f} ms", "", "", ""),
        (
            f"delta pull p99 ({scale.concurrency} clients)",
            f"{run.delta_p99_ms:.1f} ms",
            f"{run.delta_cpu_ms:.1f} ms/req",
            "",
            verdict(run.delta_failures == 0),
        ),
        (
            f"conditional pulls (304), {scale.concurrency} clients",
            f"{run.conditional_per_s:.0f}/s",
            f"{run.conditional_cpu_ms:.2f} ms/req",
            f">= {TARGET_CONDITIONAL_PER_S:.0f}/s",
            verdict(run.conditional_per_s >= TARGET_CONDITIONAL_PER_S and run.conditional_unexpected == 0),
        ),
        (
            f"snapshot of {scale.snapshot_reports:,} reports (new seller)",
            f"{run.snapshot_s:.2f} s",
            f"{run.snapshot_cpu_s:.2f} s",
            f"<= {TARGET_SNAPSHOT_S:.0f} s",
            verdict(run.snapshot_s <= TARGET_SNAPSHOT_S),
        ),
        ("same snapshot again (all unchanged)", f"{run.snapshot_repeat_s:.2f} s", "", "", ""),
    ]


def print_table(runs: list[Run], scale: Scale) -> None:
    header = (
        f"{'database':<9} {'wk':>2}  {'measure':<42} {'value':>10} {'hub CPU':>14}  {'target':>9}  verdict"
    )
    print(header)
    print("-" * len(header))
    for run in runs:
        for measure_, value, cpu, target, ok in rows(run, scale):
            print(
                f"{run.database:<9} {run.workers:>2}  {measure_:<42} {value:>10} {cpu:>14}  {target:>9}  {ok}"
            )
        print(
            f"{run.database:<9} {run.workers:>2}  seeded in {run.seed_seconds:.1f} s ({run.seed_method}); "
            f"load average {run.load_average:.1f}"
        )
        print()


def targets_met(run: Run, scale: Scale) -> bool:
    return (
        run.full_pull_s <= TARGET_FULL_PULL_S
        and run.full_pull_entries == scale.entries
        and run.snapshot_s <= TARGET_SNAPSHOT_S
        and run.conditional_per_s >= TARGET_CONDITIONAL_PER_S
        and run.conditional_unexpected == 0
        and run.delta_failures == 0
    )


def run_database(
    kind: str, postgres_url: str, scale: Scale, worker_counts: list[int], logs: Path
) -> list[Run]:
    """Seed one database, then measure it served by each number of workers in turn."""
    runs: list[Run] = []
    with database(kind, postgres_url) as url:
        run_hub_command(url, "migrate")
        started = time.perf_counter()
        seeded = hub_seed.seed(
            url, entries=scale.entries, sellers=scale.sellers, extra_sellers=len(worker_counts)
        )
        seed_seconds = time.perf_counter() - started
        logger.info("%s seeded in %.1f s", kind, seed_seconds)
        # `serve` refuses several workers on SQLite (one process: in-process wake-ups, one writer).
        counts = [w for w in worker_counts if kind != "sqlite" or w == 1]
        for index, workers in enumerate(counts):
            run = Run(kind, workers, seed_seconds, seeded.method)
            # One client stands for many agents that each poll about once a minute; here each token is
            # polled many times a second, so the per-seller rate limit (120 a minute) is lifted.
            env = {
                "BLACKLIST_HUB_RATE_LIMIT_PER_MINUTE": "1000000",
                "BLACKLIST_HUB_RATE_LIMIT_BURST": "100000",
            }
            log = logs / f"{kind}-{workers}.log"
            with hub_server(url, workers=workers, log_path=log, env=env) as hub:
                measure(hub, seeded, scale, run, seeded.extra_tokens[index])
            runs.append(run)
    return runs


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run (5,000 entries, a few seconds)")
    parser.add_argument(
        "--database", choices=["sqlite", "postgres", "both"], default="both", help="which databases to run on"
    )
    parser.add_argument(
        "--postgres-url",
        default=DEFAULT_POSTGRES_URL,
        help="PostgreSQL server to create the throwaway database `hub_bench_<pid>` on",
    )
    parser.add_argument(
        "--workers", default="1,2", help="comma-separated uvicorn worker counts (default 1,2)"
    )
    parser.add_argument("--json", type=Path, help="also write the raw figures to this file")
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("hub").setLevel(logging.WARNING)
    scale = QUICK if args.quick else FULL
    kinds = ["sqlite", "postgres"] if args.database == "both" else [args.database]
    worker_counts = [int(w) for w in args.workers.split(",")]
    print(
        f"hub load: {scale.entries:,} entries from {scale.sellers:,} sellers; "
        f"{platform.processor() or platform.machine()}, Python {platform.python_version()}"
    )
    runs: list[Run] = []
    try:
        with tempfile.TemporaryDirectory(prefix="hub-bench-logs-") as logs:
            for kind in kinds:
                runs += run_database(kind, args.postgres_url, scale, worker_counts, Path(logs))
    finally:
        # Whatever finished is printed and saved, also when a later configuration fails.
        print()
        print_table(runs, scale)
        if args.quick:
            print(
                "--quick: a smoke run at 5,000 entries; the targets are for the full size (100,000 entries)."
            )
        if args.json:
            args.json.write_text(json.dumps([asdict(run) for run in runs], indent=2))
    if args.quick:
        return 0
    return 0 if all(targets_met(run, scale) for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
