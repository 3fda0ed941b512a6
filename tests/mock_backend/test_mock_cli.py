"""`mock-backend serve` as a user runs it: options, start-up banner, and a working server."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import httpx
from typer.testing import CliRunner

from fixtures.mock_backend.cli import app


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_serve_help_lists_every_fault_switch() -> None:
    result = CliRunner().invoke(app, ["serve", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for option in (
        "--stores",
        "--seed",
        "--customers",
        "--orders",
        "--page-size",
        "--latency-ms",
        "--error-rate",
        "--rate-limit",
        "--session-lifetime-s",
        "--otp-required",
        "--layout",
        "--blacklist-capacity",
        "--confirm-record-name",
    ):
        assert option in result.output


def test_bad_layout_is_a_usage_error() -> None:
    result = CliRunner().invoke(app, ["serve", "--layout", "v9"])
    assert result.exit_code == 2


def test_serve_starts_with_the_requested_stores_and_faults() -> None:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "fixtures.mock_backend.cli",
        "serve",
        "--port",
        str(port),
        "--stores",
        "2",
        "--customers",
        "30",
        "--orders",
        "5",
        "--layout",
        "v2",
        "--seed",
        "9",
    ]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        state = None
        for _ in range(100):
            try:
                state = httpx.get(f"http://127.0.0.1:{port}/__mock__/state", timeout=2).json()
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert state is not None
        assert [s["store_id"] for s in state["stores"]] == ["store-a", "store-b"]
        assert state["stores"][1]["counts"]["orders"] == 5
        assert state["faults"]["layout"] == "v2"
    finally:
        proc.terminate()
        output, _ = proc.communicate(timeout=10)
    assert "seller-b" in output
