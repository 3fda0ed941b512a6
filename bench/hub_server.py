"""Throwaway hub databases and a real `blacklist-hub serve` subprocess, for the hub load benchmark.

The benchmark measures the hub the way an operator runs it: the installed `blacklist-hub` command
(uvicorn) in its own process group, on loopback, over a database that exists only for the run.
PostgreSQL is shared with other users of the same server, so each run gets its own database and drops
it afterwards.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

logger = logging.getLogger(__name__)

HUB_COMMAND = Path(sys.executable).with_name("blacklist-hub")
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
# One database per run: two benchmark runs at once must not drop each other's database.
BENCH_DATABASE = f"hub_bench_{os.getpid()}"


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def sqlite_database() -> Iterator[str]:
    """A SQLite database file in a temporary directory, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="hub-bench-") as tmp:
        yield f"sqlite:///{Path(tmp) / 'hub.db'}"


@contextlib.contextmanager
def postgres_database(server_url: str = DEFAULT_POSTGRES_URL, name: str = BENCH_DATABASE) -> Iterator[str]:
    """A fresh PostgreSQL database `name` on the server of `server_url`, dropped afterwards.

    Yields the SQLAlchemy URL of the new database (`hub_bench_<pid>` by default, so concurrent runs
    stay apart). A leftover database of the same name is dropped first.
    """
    url = make_url(server_url)
    admin_dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def run_hub_command(database_url: str, *args: str) -> str:
    """Run one operator command (`migrate`, `seller add ...`) and return its standard output."""
    result = subprocess.run(
        [str(HUB_COMMAND), *args, "--database-url", database_url],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    if result.returncode != 0:
        raise RuntimeError(f"blacklist-hub {args[0]} failed ({result.returncode}): {result.stderr.strip()}")
    return result.stdout


class HubProcess:
    """A running `blacklist-hub serve`: its base URL and the CPU time its processes used so far.

    On a machine shared with other work, wall-clock figures swing with the load; the server's own CPU
    time per request does not, and says what the hub would do on idle cores.
    """

    def __init__(self, base_url: str, process: subprocess.Popen[bytes]) -> None:
        self.base_url = base_url
        self._process = psutil.Process(process.pid)

    def cpu_seconds(self) -> float:
        total = 0.0
        for proc in [self._process, *self._process.children(recursive=True)]:
            with contextlib.suppress(psutil.NoSuchProcess):
                times = proc.cpu_times()
                total += times.user + times.system
        return total


BENCH_ENV = {"BLACKLIST_HUB_PUBLISH_MIN_REPORTERS": "1"}


@contextlib.contextmanager
def hub_server(
    database_url: str, *, workers: int = 1, env: dict[str, str] | None = None, log_path: Path | None = None
) -> Iterator[HubProcess]:
    """Serve the hub with `blacklist-hub serve` on a free loopback port.

    The server runs in its own process group so that stopping it also stops uvicorn's worker
    processes; its output goes to `log_path` (or is discarded) so a busy server never blocks on a
    full pipe.
    """
    port = free_port()
    command = [
        str(HUB_COMMAND),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--database-url",
        database_url,
    ]
    if workers > 1:
        command += ["--workers", str(workers)]
    with contextlib.ExitStack() as stack:
        output = stack.enter_context(log_path.open("ab")) if log_path else subprocess.DEVNULL
        process = subprocess.Popen(
            command,
            # Benchmarks serve every seeded entry (publication threshold 1).
            env={**os.environ, **BENCH_ENV, **(env or {})},
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        base_url = f"http://127.0.0.1:{port}"
        try:
            try:
                _wait_healthy(base_url, process, workers)
            except RuntimeError as exc:
                tail = log_path.read_text(errors="replace")[-2000:] if log_path else ""
                raise RuntimeError(f"{exc}\n{tail}") from None
            yield HubProcess(base_url, process)
        finally:
            _stop(process)


def _wait_healthy(
    base_url: str, process: subprocess.Popen[bytes], workers: int, timeout: float = 180
) -> None:
    # With several workers the port answers as soon as the first one is up; wait until a few
    # consecutive probes succeed so the measurement does not start while the others still import.
    deadline = time.monotonic() + timeout
    healthy_in_a_row = 0
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"blacklist-hub serve exited early with code {process.returncode}")
        try:
            healthy = httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200
        except httpx.TransportError:
            healthy = False
        healthy_in_a_row = healthy_in_a_row + 1 if healthy else 0
        if healthy_in_a_row >= 3 * workers:
            if workers > 1:
                time.sleep(1.0)
            return
        time.sleep(0.1)
    raise RuntimeError(f"blacklist-hub serve did not become healthy within {timeout:.0f} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        logger.warning("hub server did not stop on SIGTERM; killing it")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)
