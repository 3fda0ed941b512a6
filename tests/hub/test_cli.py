"""The operator CLI end to end, and its documentation."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from typer.main import get_command
from typer.testing import CliRunner

from hub.app import create_app
from hub.cli import app
from hub.settings import ENV_PREFIX, HubSettings
from tests.hub.support import report

README = Path(__file__).resolve().parents[2] / "README.md"
# The operator's commands publish at once here, as a hub with `publish_interval_seconds` 0 does.
runner = CliRunner(env={f"{ENV_PREFIX}PUBLISH_INTERVAL_SECONDS": "0"})


def cli(*args: str, ok: bool = True) -> str:
    result = runner.invoke(app, list(args))
    if ok:
        assert result.exit_code == 0, result.output
    return result.stdout if ok else result.output


def test_operator_cli_end_to_end(hub_url: str) -> None:
    db = ["--database-url", hub_url]
    token_a = cli("seller", "add", "shop-a", "--store-id", "A1", *db).strip()
    token_b = cli("seller", "add", "shop-b", "--store-id", "B1", *db).strip()
    token_c = cli("seller", "add", "shop-c", "--store-id", "C1", *db).strip()
    assert re.fullmatch(r"bh_[A-Za-z0-9_-]{43}", token_a)
    duplicate = runner.invoke(app, ["seller", "add", "shop-a", "--store-id", "Z", *db])
    assert duplicate.exit_code == 1
    a, b, c = ({"Authorization": f"Bearer {t}"} for t in (token_a, token_b, token_c))

    settings = HubSettings(database_url=hub_url, sweep_interval_seconds=0, publish_interval_seconds=0)
    with TestClient(create_app(settings)) as api:
        api.post("/v1/reports", json={"reports": [report("m1"), report("m2")]}, headers=a)
        api.post("/v1/reports", json={"reports": [report("m1")]}, headers=b)
        api.post("/v1/reports", json={"reports": [report("m2")]}, headers=c)
        sellers = json.loads(cli("seller", "list", "--json", *db))
        assert [(s["name"], s["enabled"], s["reports"]) for s in sellers] == [
            ("shop-a", True, 2),
            ("shop-b", True, 1),
            ("shop-c", True, 1),
        ]
        id_a = str(sellers[0]["id"])
        # A seller whose name is shop-a's id: a name is never taken for an id.
        cli("seller", "add", id_a, "--store-id", "N1", *db)
        assert f"seller {id_a!r} disabled" in cli("seller", "disable", id_a, *db)
        assert api.get("/v1/me", headers=a).status_code == 200
        cli("seller", "enable", id_a, *db)
        assert "2 entries changed" in cli("seller", "disable", "--id", id_a, *db)
        assert api.get("/v1/me", headers=a).status_code == 403
        # m1 keeps one reporter: below the publication threshold, out of the feed, still looked up.
        assert api.get("/v1/entries/m1", headers=b).status_code == 404
        found = api.get("/v1/lookup", params={"member_id": "m1"}, headers=b).json()["entries"]
        assert [(e["reporters"], e["own_report"]) for e in found] == [(1, True)]
        cli("seller", "enable", "--id", id_a, *db)
        assert api.get("/v1/entries/m1", headers=b).json()["reporters"] == 2
        cli("seller", "standing", "shop-b", "0.5", *db)
        assert api.get("/v1/entries/m1", headers=b).json()["weight"] == 1.5
        new_b = cli("seller", "rotate-token", "shop-b", *db).strip()
        assert api.get("/v1/me", headers=b).status_code == 401
        assert api.get("/v1/me", headers={"Authorization": f"Bearer {new_b}"}).json()["standing"] == 0.5
        cli("entry", "delist", "m2", *db)
        assert api.get("/v1/entries/m2", headers=a).status_code == 404
        cli("entry", "relist", "m2", *db)
        assert api.get("/v1/entries/m2", headers=a).status_code == 200
        stats = json.loads(cli("stats", "--json", *db))
        assert (stats["sellers"], stats["reports"], stats["entries_live"]) == (4, 4, 2)
        assert "0 feed changes" in cli("sweep", *db)
        assert "feed horizon" in cli("compact", *db)
    assert "no seller named" in cli("seller", "disable", "nobody", *db, ok=False)
    assert "not a valid member id" in cli("entry", "delist", "bad id", *db, ok=False)


def test_migrate_is_idempotent_and_serve_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hub.sqlite3'}"
    refused = runner.invoke(app, ["serve", "--database-url", url])
    assert refused.exit_code == 1
    assert "run `blacklist-hub migrate`" in refused.output
    assert "not initialised" in cli("seller", "list", "--database-url", url, ok=False)
    assert "revision" in cli("migrate", "--database-url", url)
    assert "revision" in cli("migrate", "--database-url", url)
    assert json.loads(cli("seller", "list", "--json", "--database-url", url)) == []


def test_serve_refuses_several_workers_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hub.sqlite3'}"
    cli("migrate", "--database-url", url)
    refused = runner.invoke(app, ["serve", "--workers", "2", "--database-url", url])
    assert refused.exit_code == 2
    assert "--workers 2 needs PostgreSQL" in refused.output


def test_serve_refuses_a_database_from_another_version(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hub.sqlite3'}"
    cli("migrate", "--database-url", url)
    import sqlite3

    with sqlite3.connect(tmp_path / "hub.sqlite3") as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'ffff'")
    refused = runner.invoke(app, ["serve", "--database-url", url])
    assert refused.exit_code == 1
    assert "newer hub version" in refused.output


def test_serve_runs_the_api_from_the_command_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hub.sqlite3'}"
    cli("migrate", "--database-url", url)
    env = os.environ | {f"{ENV_PREFIX}DATABASE_URL": url, f"{ENV_PREFIX}PORT": "0"}
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-c", "from hub.cli import main; main()", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    pytest.fail("serve did not answer")
                time.sleep(0.1)
        assert response.json() == {"status": "ok", "database": "ok"}
    finally:
        process.terminate()
        process.wait(timeout=20)


def _command_names() -> list[str]:
    root = get_command(app)
    names: list[str] = []
    for name, command in root.commands.items():  # type: ignore[attr-defined]
        assert command.help, f"{name} has no help text"
        sub = getattr(command, "commands", None)
        if sub:
            for sub_name, sub_command in sub.items():
                assert sub_command.help, f"{name} {sub_name} has no help text"
                names.append(f"{name} {sub_name}")
        else:
            names.append(name)
    return names


def test_every_command_has_help_and_is_in_the_readme() -> None:
    section = README.read_text().split("<!-- section: hub")[1].split("<!-- section:")[0]
    missing = [name for name in _command_names() if f"blacklist-hub {name}" not in section]
    assert missing == []


def test_every_setting_is_documented_with_its_environment_variable() -> None:
    section = README.read_text().split("<!-- section: hub")[1].split("<!-- section:")[0]
    missing = [f for f in HubSettings.model_fields if f"{ENV_PREFIX}{f.upper()}" not in section]
    assert missing == []
