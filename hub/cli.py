"""`blacklist-hub`: the operator's command line (serve, migrate, sellers, entries, upkeep).

Every command takes `--database-url` (else `BLACKLIST_HUB_DATABASE_URL`, else a SQLite file in the user
data dir). Exit codes: 0 success, 1 failure, 2 usage error. Tokens are printed once and never logged.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from hub.admin import HubAdmin
from hub.db import Database, SchemaNotReady, migrate
from hub.schemas import MEMBER_ID_PATTERN
from hub.sellers import SellerExists, SellerNotFound
from hub.settings import ENV_PREFIX, HubSettings

logger = logging.getLogger(__name__)

WORKER_START_SECONDS = 60
GRACEFUL_SHUTDOWN_SECONDS = 5

app = typer.Typer(help="Operate a blacklist-sharing hub.", no_args_is_help=True, add_completion=False)
seller_app = typer.Typer(help="Manage the sellers allowed to report.", no_args_is_help=True)
entry_app = typer.Typer(help="Operator overrides on buyers' entries.", no_args_is_help=True)
app.add_typer(seller_app, name="seller")
app.add_typer(entry_app, name="entry")

out = Console()
err = Console(stderr=True)

DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help=f"SQLAlchemy URL, sqlite:///PATH or postgresql+psycopg://...; default ${ENV_PREFIX}DATABASE_URL",
        show_default=False,
    ),
]
Json = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _settings(database_url: str | None, **overrides: Any) -> HubSettings:
    values = {k: v for k, v in overrides.items() if v is not None}
    if database_url:
        values["database_url"] = database_url
    return HubSettings(**values)


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(code)


@contextmanager
def _admin(database_url: str | None) -> Iterator[HubAdmin]:
    admin = HubAdmin(_settings(database_url))
    try:
        with admin:
            yield admin
    except SchemaNotReady as exc:
        raise _fail(str(exc)) from None


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debug details.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # Alembic announces its context on every schema check; only `migrate` has news worth logging.
    logging.getLogger("alembic").setLevel(logging.DEBUG if verbose else logging.WARNING)


@app.command()
def serve(
    database_url: DatabaseUrl = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port (default 8400).")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes (use PostgreSQL when > 1).")] = None,
) -> None:
    """Serve the HTTP API (refuses a database that is not migrated)."""
    import uvicorn

    settings = _settings(database_url, host=host, port=port, workers=workers)
    if settings.workers > 1 and settings.database_url.startswith("sqlite"):
        raise _fail(
            f"--workers {settings.workers} needs PostgreSQL: a SQLite hub runs one process (its feed's"
            " waiting clients are woken in-process, and SQLite serialises writers anyway); use --workers 1"
            " or set"
            f" {ENV_PREFIX}DATABASE_URL to a postgresql+psycopg:// URL",
            code=2,
        )
    db = Database(settings.database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms)
    try:
        db.require_current_schema()
    except SchemaNotReady as exc:
        raise _fail(str(exc)) from None
    except Exception as exc:
        raise _fail(f"cannot open the hub database: {type(exc).__name__}") from None
    finally:
        db.dispose()
    # Worker processes build their own app from the environment: hand them the effective settings.
    os.environ[f"{ENV_PREFIX}DATABASE_URL"] = settings.database_url
    uvicorn.run(
        "hub.app:app_from_env",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=settings.log_level,
        access_log=settings.access_log,
        proxy_headers=True,
        # uvicorn kills a worker that has not answered its health check within 5 s by default; a worker
        # still importing on a busy machine has not, and was killed and respawned forever.
        timeout_worker_healthcheck=WORKER_START_SECONDS,
        # On SIGTERM uvicorn lets running requests finish. Long-poll waits are answered at once (see
        # `hub.app._stop_waiting_on_shutdown_signals`); this bounds whatever else still runs (a restart
        # waited up to 60 s, and a supervisor's stop timed out, before waits were answered).
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )


@app.command("migrate")
def migrate_command(database_url: DatabaseUrl = None) -> None:
    """Create or upgrade the hub's database schema (safe to run again)."""
    settings = _settings(database_url)
    revision = migrate(settings.database_url)
    out.print(f"database at schema revision {revision}")


@seller_app.command("add")
def seller_add(
    name: Annotated[str, typer.Argument(help="A unique name for the seller.")],
    store_id: Annotated[str, typer.Option("--store-id", help="The seller's store id on the marketplace.")],
    database_url: DatabaseUrl = None,
) -> None:
    """Register a seller and print its token (shown only this once)."""
    with _admin(database_url) as admin:
        try:
            seller_id, token = admin.add_seller(name, store_id)
        except (SellerExists, ValueError) as exc:
            raise _fail(str(exc)) from None
    err.print(f"seller {name!r} added with id {seller_id}; its token (shown once, store it now):")
    print(token)


@seller_app.command("list")
def seller_list(database_url: DatabaseUrl = None, as_json: Json = False) -> None:
    """List sellers with their state and number of reports."""
    with _admin(database_url) as admin:
        sellers = admin.list_sellers()
    if as_json:
        rows = [
            {
                "id": s.id,
                "name": s.name,
                "store_id": s.store_id,
                "enabled": s.enabled,
                "standing": s.standing,
                "reports": s.reports,
                "created_at": s.created_at.isoformat(),
            }
            for s in sellers
        ]
        print(json.dumps(rows, indent=2))
        return
    table = Table("id", "name", "store id", "state", "standing", "reports", "created")
    for s in sellers:
        state = "enabled" if s.enabled else "[red]disabled[/red]"
        table.add_row(str(s.id), s.name, s.store_id, state, f"{s.standing:g}", str(s.reports),
                      s.created_at.strftime("%Y-%m-%d"))  # fmt: skip
    out.print(table)


SellerRef = Annotated[
    str | None, typer.Argument(help="The seller's name (use --id for its numeric id).", show_default=False)
]
SellerId = Annotated[int | None, typer.Option("--id", help="The seller's numeric id instead of its name.")]


def _seller_label(name: str | None, seller_id: int | None) -> str:
    if (name is None) == (seller_id is None):
        raise _fail("name the seller, or give its --id (not both)", code=2)
    return f"id {seller_id}" if seller_id is not None else repr(name)


def _seller_action(database_url: str | None, name_or_id: str, action: str, run: Any) -> Any:
    with _admin(database_url) as admin:
        try:
            return run(admin)
        except SellerNotFound as exc:
            raise _fail(str(exc)) from None
        except ValueError as exc:
            raise _fail(f"cannot {action} {name_or_id}: {exc}") from None


@seller_app.command("disable")
def seller_disable(
    name: SellerRef = None, seller_id: SellerId = None, database_url: DatabaseUrl = None
) -> None:
    """Disable a seller: its requests get 403 and its reports stop counting at once."""
    label = _seller_label(name, seller_id)
    changes = _seller_action(
        database_url, label, "disable", lambda a: a.set_enabled(name, False, seller_id=seller_id)
    )
    out.print(f"seller {label} disabled; {changes} entries changed")


@seller_app.command("enable")
def seller_enable(
    name: SellerRef = None, seller_id: SellerId = None, database_url: DatabaseUrl = None
) -> None:
    """Enable a seller again: its reports count again."""
    label = _seller_label(name, seller_id)
    changes = _seller_action(
        database_url, label, "enable", lambda a: a.set_enabled(name, True, seller_id=seller_id)
    )
    out.print(f"seller {label} enabled; {changes} entries changed")


@seller_app.command("rotate-token")
def seller_rotate_token(
    name: SellerRef = None, seller_id: SellerId = None, database_url: DatabaseUrl = None
) -> None:
    """Replace a seller's token (the old one stops working) and print the new one once."""
    label = _seller_label(name, seller_id)
    token = _seller_action(
        database_url, label, "rotate the token of", lambda a: a.rotate_token(name, seller_id=seller_id)
    )
    err.print(f"new token for seller {label} (shown once, store it now):")
    print(token)


@seller_app.command("standing")
def seller_standing(
    first: Annotated[str, typer.Argument(metavar="[NAME] VALUE", help="The seller's name, then the value.")],
    second: Annotated[str | None, typer.Argument(metavar="", show_default=False)] = None,
    seller_id: SellerId = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Set a seller's standing, 0..1 (default 1; 0: its reports count for nothing); entries are recomputed.

    `standing NAME VALUE`, or `standing --id ID VALUE`.
    """
    name, raw = (None, first) if seller_id is not None and second is None else (first, second)
    try:
        value = float(raw) if raw is not None else None
    except ValueError:
        value = None
    if value is None:
        raise _fail(f"not a standing between 0 and 1: {raw!r}", code=2)
    label = _seller_label(name, seller_id)
    changes = _seller_action(
        database_url,
        label,
        "set the standing of",
        lambda a: a.set_standing(name, value, seller_id=seller_id),
    )
    out.print(f"seller {label} standing {value:g}; {changes} entries changed")


@app.command()
def publish(database_url: DatabaseUrl = None) -> None:
    """Publish pending entry changes to the feed now (the server does it every publish_interval_seconds)."""
    with _admin(database_url) as admin:
        changes = admin.publish()
    out.print(f"published: {changes} feed change{'s' if changes != 1 else ''}")


MemberId = Annotated[str, typer.Argument(help="The buyer's member id.")]


def _check_member_id(member_id: str) -> None:
    import re

    if not re.fullmatch(MEMBER_ID_PATTERN, member_id):
        raise _fail(f"not a valid member id: {member_id!r}", code=2)


@entry_app.command("delist")
def entry_delist(member_id: MemberId, database_url: DatabaseUrl = None) -> None:
    """Remove a buyer from the feed (tombstone) and keep it out whatever is reported, until relisted."""
    _check_member_id(member_id)
    with _admin(database_url) as admin:
        changes = admin.set_delisted(member_id, True)
    out.print(f"{member_id} delisted ({changes} feed change{'s' if changes != 1 else ''})")


@entry_app.command("relist")
def entry_relist(member_id: MemberId, database_url: DatabaseUrl = None) -> None:
    """Undo `entry delist`: the buyer's reports count again."""
    _check_member_id(member_id)
    with _admin(database_url) as admin:
        changes = admin.set_delisted(member_id, False)
    out.print(f"{member_id} relisted ({changes} feed change{'s' if changes != 1 else ''})")


@app.command()
def stats(database_url: DatabaseUrl = None, as_json: Json = False) -> None:
    """Counts of sellers, reports, entries and feed changes."""
    with _admin(database_url) as admin:
        figures = admin.stats()
    if as_json:
        print(json.dumps(figures, indent=2))
        return
    table = Table("figure", "value")
    for key, value in figures.items():
        table.add_row(key.replace("_", " "), str(value))
    out.print(table)


@app.command()
def sweep(database_url: DatabaseUrl = None) -> None:
    """Apply report expiry now (the server also does it by itself every few seconds while in use)."""
    with _admin(database_url) as admin:
        changes = admin.sweep()
    out.print(f"expiry sweep: {changes} feed changes")


@app.command()
def compact(database_url: DatabaseUrl = None) -> None:
    """Delete superseded change-log rows and tombstones older than the retention (agents behind re-pull)."""
    with _admin(database_url) as admin:
        result = admin.compact()
    out.print(
        f"removed {result.superseded} superseded changes and {result.tombstones} old tombstones; "
        f"feed horizon is now {result.horizon}"
    )


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
