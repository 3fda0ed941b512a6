"""Hub test fixtures: every database-backed test runs on SQLite and on PostgreSQL.

- `hub_url` (function scope): the URL of a migrated, emptied hub database; parametrised over a SQLite file
  and PostgreSQL (`$HUB_TEST_DATABASE_URL`, default the local server; a private schema per session, selected
  with `search_path`, so concurrent runs never meet).
- `hub`: a `HubClient` (TestClient over `create_app`) with a controllable clock; `make_hub(**settings)`
  builds one with other settings; `served_hub`: the app behind a real uvicorn server on loopback.
  The helper classes live in `tests/hub/support.py`.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, delete, text, update
from sqlalchemy.engine import make_url

from hub.app import create_app
from hub.db import Database, migrate
from hub.models import Change, Entry, HubState, Report, Seller, SellerRecord, SellerUsage
from hub.settings import HubSettings
from tests.hub.support import Clock, HubClient, MakeHub, ServedHub

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


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


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    """A database with no schema at all (migration tests), on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.sqlite3'}"
        return
    base = os.environ.get("HUB_TEST_DATABASE_URL", DEFAULT_PG_URL)
    try:
        url, schema = _postgres_schema_url(base)
    except Exception as exc:
        if "HUB_TEST_DATABASE_URL" in os.environ:
            raise
        pytest.skip(f"PostgreSQL not reachable at {base} ({type(exc).__name__}); set HUB_TEST_DATABASE_URL")
    try:
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
        for model in (Change, Report, Entry, SellerRecord, SellerUsage, Seller):
            session.execute(delete(model))
        session.execute(update(HubState).values(last_seq=0, horizon_seq=0, last_sweep_at=None))
    return hub_database


@pytest.fixture
def make_hub(hub_url: str) -> Iterator[MakeHub]:
    clients: list[HubClient] = []

    def make(clock: Clock | None = None, **overrides: Any) -> HubClient:
        values: dict[str, Any] = {"rate_limit_per_minute": 100000, "rate_limit_burst": 10000}
        # Publication at once and from one reporter, unless a test asks for the hub's defaults.
        values |= {"publish_interval_seconds": 0, "publish_min_reporters": 1}
        values |= {"unauthenticated_per_minute": 100000, "unauthenticated_burst": 10000}
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


@pytest.fixture
def served_hub(hub_url: str) -> Iterator[ServedHub]:
    settings = HubSettings(
        database_url=hub_url,
        rate_limit_per_minute=100000,
        rate_limit_burst=10000,
        sweep_interval_seconds=0,
        publish_interval_seconds=0,
        publish_min_reporters=1,
        unauthenticated_per_minute=100000,
        unauthenticated_burst=10000,
    )
    with ServedHub(settings) as served:
        yield served
