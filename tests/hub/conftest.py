"""Hub test fixtures: every database-backed test runs on SQLite and on PostgreSQL.

- `hub_url` (function scope): the URL of a migrated, emptied hub database; parametrised over a SQLite file
  and PostgreSQL (`$HUB_TEST_DATABASE_URL`, default the local server; a private schema per session, selected
  with `search_path`, so concurrent runs never meet).
- `hub`: a `HubClient` (TestClient over `create_app`) with a controllable clock; `make_hub(**settings)`
  builds one with other settings.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, delete, text, update
from sqlalchemy.engine import make_url

from hub.admin import HubAdmin
from hub.app import create_app
from hub.db import Database, migrate
from hub.models import Change, Entry, HubState, Report, Seller
from hub.sellers import create_seller
from hub.settings import HubSettings

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


class Clock:
    """A settable clock for the hub (aware UTC)."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 11, 20, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def _postgres_schema_url(base: str) -> tuple[str, str]:
    schema = f"hubtest_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    engine = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    finally:
        engine.dispose()
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False), schema


def _drop_schema(base: str, schema: str) -> None:
    engine = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        engine.dispose()


@pytest.fixture(scope="session", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def hub_database(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('hubdb') / 'hub.sqlite3'}"
        migrate(url)
        yield url
        return
    base = os.environ.get("HUB_TEST_DATABASE_URL", DEFAULT_PG_URL)
    try:
        url, schema = _postgres_schema_url(base)
    except Exception as exc:
        if "HUB_TEST_DATABASE_URL" in os.environ:
            raise
        pytest.skip(f"PostgreSQL not reachable at {base} ({type(exc).__name__}); set HUB_TEST_DATABASE_URL")
    try:
        migrate(url)
        yield url
    finally:
        _drop_schema(base, schema)


@pytest.fixture(scope="session")
def _hub_db(hub_database: str) -> Iterator[Database]:
    db = Database(hub_database)
    yield db
    db.dispose()


@pytest.fixture
def hub_url(hub_database: str, _hub_db: Database) -> str:
    """The session's database, emptied."""
    with _hub_db.write() as session:
        for model in (Change, Report, Entry, Seller):
            session.execute(delete(model))
        session.execute(update(HubState).values(last_seq=0, horizon_seq=0, last_sweep_at=None))
    return hub_database


class HubClient(TestClient):
    """A TestClient over one hub, with its clock and a way to register sellers."""

    clock: Clock
    settings: HubSettings

    def add_seller(self, name: str, store_id: str | None = None) -> dict[str, str]:
        """Register a seller; returns its Authorization header."""
        with self.app.state.hub.db.write() as session:  # type: ignore[attr-defined]
            _, token = create_seller(session, name, store_id or f"store-{name}", self.clock())
        return {"Authorization": f"Bearer {token}"}

    def admin(self) -> HubAdmin:
        return HubAdmin(self.settings, now=self.clock())

    def push(self, headers: dict[str, str], *reports: dict[str, Any], snapshot: bool = False) -> Any:
        method = self.put if snapshot else self.post
        response = method("/v1/reports", json={"reports": list(reports)}, headers=headers)
        assert response.status_code == 200, response.text
        return response.json()

    def feed(self, headers: dict[str, str], cursor: int = 0, limit: int = 1000) -> Any:
        response = self.get("/v1/feed", params={"cursor": cursor, "limit": limit}, headers=headers)
        assert response.status_code == 200, response.text
        return response.json()

    def entry(self, headers: dict[str, str], member_id: str) -> Any:
        response = self.get(f"/v1/entries/{member_id}", headers=headers)
        return response.json() if response.status_code == 200 else None


def report(member_id: str, name: str = "Jane Roe", reason: str = "fraud", **extra: Any) -> dict[str, Any]:
    return {"member_id": member_id, "name": name, "reason": reason, **extra}


MakeHub = Callable[..., HubClient]


@pytest.fixture
def make_hub(hub_url: str) -> Iterator[MakeHub]:
    clients: list[HubClient] = []

    def make(clock: Clock | None = None, **overrides: Any) -> HubClient:
        values: dict[str, Any] = {"rate_limit_per_minute": 100000, "rate_limit_burst": 10000}
        values |= {"sweep_interval_seconds": 0} | overrides
        settings = HubSettings(database_url=hub_url, **values)
        clock = clock or Clock()
        client = HubClient(create_app(settings, clock=clock))
        client.clock = clock
        client.settings = settings
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def hub(make_hub: MakeHub) -> HubClient:
    return make_hub()


class ServedHub:
    """A hub app served by a real uvicorn server on loopback, in a thread."""

    def __init__(self, settings: HubSettings) -> None:
        import socket

        import uvicorn

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self.settings = settings
        config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
        self.server = uvicorn.Server(config)

    def __enter__(self) -> ServedHub:
        import threading
        import time

        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the hub server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)


@pytest.fixture
def served_hub(hub_url: str) -> Iterator[ServedHub]:
    settings = HubSettings(
        database_url=hub_url, rate_limit_per_minute=100000, rate_limit_burst=10000, sweep_interval_seconds=0
    )
    with ServedHub(settings) as served:
        yield served
