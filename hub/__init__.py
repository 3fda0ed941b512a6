"""The sharing hub: pools the stores' blacklists and serves the consensus feed.

Public surface for other parts of the project (tests, the agent's demo, benchmarks):

- `hub.settings.HubSettings`: every setting, from arguments or `BLACKLIST_HUB_*` environment variables.
- `hub.app.create_app(settings, *, clock=None) -> FastAPI`: the API over a migrated database
  (raises `hub.db.SchemaNotReady` otherwise); `clock` returns aware UTC datetimes, for tests.
- `hub.db.migrate(url) -> str`: create or upgrade the schema (Alembic) programmatically.
- `hub.admin.add_seller(url, name, store_id) -> str`: register a seller and return its bearer token;
  `hub.admin.HubAdmin(url)` has the other operator actions (disable, delist, stats...).

Embedding a hub (what `blacklist-agent demo` and the e2e tests do):

    from hub.settings import HubSettings
    from hub.db import migrate
    from hub.admin import add_seller
    from hub.app import create_app

    url = f"sqlite:///{tmp_path / 'hub.sqlite3'}"
    migrate(url)
    tokens = [add_seller(url, f"store-{i}", f"S{i}") for i in range(3)]
    app = create_app(HubSettings(database_url=url))   # serve with uvicorn

With the defaults, an entry reaches the feed only with 2 counting reporters, and changes are published every
2 s (`hub.publish`). Tests that push then pull at once set `publish_interval_seconds=0` (published in the
writing transaction); `HubAdmin.publish()` (or `blacklist-hub publish`) publishes by hand.
"""

from __future__ import annotations

__version__ = "0.1.0"
