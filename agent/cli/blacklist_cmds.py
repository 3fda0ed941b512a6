"""`blacklist list | add | remove`: the store's own blacklist, read and changed through the browser."""

from __future__ import annotations

from typing import Annotated

import typer

from agent.cli.app import JsonOption, app, console, err_console, fail, open_store, print_rows, settings_from
from agent.models import BlacklistOutcome, RemovalOutcome
from agent.wording import plural

blacklist_app = typer.Typer(
    help="Read or change your store's own blacklist in the seller backend.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(blacklist_app, name="blacklist")

_ADD_MESSAGES = {
    BlacklistOutcome.ADDED: "Blacklisted",
    BlacklistOutcome.ALREADY: "Already blacklisted:",
}


@blacklist_app.command("list")
def blacklist_list(ctx: typer.Context, json_output: JsonOption = False) -> None:
    """List the buyers on your store's blacklist, most recently blacklisted first."""
    settings = settings_from(ctx)
    with err_console.status("Reading the blacklist"), open_store(settings) as store:
        entries = store.read_blacklist()
    rows = [{"member_id": e.member_id, "name": e.name, "blacklisted_at": e.blacklisted_at} for e in entries]
    print_rows(
        rows,
        [("member_id", "Member ID"), ("name", "Name"), ("blacklisted_at", "Blacklisted at")],
        json_output=json_output,
        title=plural(len(rows), "blacklisted buyer"),
        empty="The blacklist is empty.",
    )


@blacklist_app.command("add")
def blacklist_add(
    ctx: typer.Context,
    member_id: Annotated[str, typer.Argument(help="The buyer's MemberId.")],
    name: Annotated[str, typer.Argument(help="The buyer's Name, exactly as the backend shows it.")],
) -> None:
    """Blacklist a buyer by MemberId and Name (the backend's blacklist link)."""
    settings = settings_from(ctx)
    with err_console.status(f"Blacklisting {member_id}"), open_store(settings) as store:
        result = store.blacklist_by_link(member_id, name)
    if not result.ok:
        detail = f": {result.message}" if result.message else ""
        raise fail(f"the backend refused to blacklist {member_id} ({result.outcome.value}){detail}")
    console.print(f"{_ADD_MESSAGES[result.outcome]} {member_id} ({name}).")


@blacklist_app.command("remove")
def blacklist_remove(
    ctx: typer.Context,
    member_id: Annotated[str, typer.Argument(help="The buyer's MemberId.")],
) -> None:
    """Remove a buyer from your store's blacklist."""
    settings = settings_from(ctx)
    with err_console.status(f"Removing {member_id}"), open_store(settings) as store:
        outcome = store.remove_from_blacklist(member_id)
    if outcome is RemovalOutcome.REMOVED:
        console.print(f"Removed {member_id} from the blacklist.")
    else:
        console.print(f"{member_id} was not on the blacklist; nothing to remove.")
