"""Hub settings: flags or `BLACKLIST_HUB_*` environment variables, with safe defaults.

Every field here is documented, with its environment variable, in the README section "Running a hub"
(a test checks that).
"""

from __future__ import annotations

from pathlib import Path

from platformdirs import user_data_dir
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "BLACKLIST_HUB_"


def default_database_url() -> str:
    """A SQLite file in the user data dir (created on first use)."""
    path = Path(user_data_dir("blacklist-hub", appauthor=False)) / "hub.sqlite3"
    return f"sqlite:///{path}"


class HubSettings(BaseSettings):
    """Everything an operator can tune. Limits apply per seller."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    database_url: str = Field(default_factory=default_database_url)
    host: str = "127.0.0.1"
    port: int = Field(default=8400, ge=0, le=65535)
    workers: int = Field(default=1, ge=1)
    log_level: str = "info"
    # One line per request costs ~7% of a cheap poll's CPU: off unless asked for.
    access_log: bool = False
    # Threads per process for database work (request handlers, page reads); waiting clients hold none.
    threads: int = Field(default=40, ge=1, le=1000)
    feed_wait_max_seconds: int = Field(default=60, ge=0, le=60)
    # PostgreSQL: where each process keeps its LISTEN connection, when `database_url` goes through a pooler
    # in transaction mode (LISTEN needs a session of its own); default: `database_url`.
    listen_database_url: str | None = None

    report_ttl_days: int = Field(default=180, ge=1)
    report_stale_days: int = Field(default=90, ge=1)
    rate_limit_per_minute: float = Field(default=120.0, gt=0)
    rate_limit_burst: int = Field(default=60, ge=1)
    daily_new_reports: int = Field(default=1000, ge=0)
    first_snapshot_allowance: int = Field(default=10000, ge=0)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    feed_page_max: int = Field(default=5000, ge=1, le=5000)
    sweep_interval_seconds: float = Field(default=60.0, ge=0)
    tombstone_retention_days: int = Field(default=30, ge=1)
    sqlite_busy_timeout_ms: int = Field(default=30000, ge=0)

    # Publication (docs/hub-api.md, "Publication"): an entry is in the feed only with this many counting
    # reporters; changes reach the feed in batches, every this many seconds (0: at once).
    publish_min_reporters: int = Field(default=2, ge=1)
    publish_interval_seconds: float = Field(default=2.0, ge=0)
    # `GET /v1/lookup`: member ids a seller may look up, per minute (token bucket of `lookup_burst`).
    lookup_per_minute: float = Field(default=600.0, gt=0)
    lookup_burst: int = Field(default=200, ge=1)
    # Items (reports, record changes) a seller may write, per minute (token bucket of `write_items_burst`).
    write_items_per_minute: float = Field(default=20000.0, gt=0)
    write_items_burst: int = Field(default=20000, ge=1)
    # Requests without a known token, per client address and minute (token bucket).
    unauthenticated_per_minute: float = Field(default=60.0, gt=0)
    unauthenticated_burst: int = Field(default=30, ge=1)
    # When set, `GET /metrics` wants `Authorization: Bearer <this token>`.
    metrics_token: SecretStr | None = None
    # Items a seller's private record may hold, per list.
    record_max_items: int = Field(default=100000, ge=1)
