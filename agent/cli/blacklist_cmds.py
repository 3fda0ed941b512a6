"""`blacklist list | add | remove`: the store's own blacklist, read and changed through the browser."""

from __future__ import annotations

from typing import Annotated

import typer

from agent.cli.app import (
    JsonOption,
    app,
    console,
    err_console,
    fail,
    open_store,
    print_rows,
    settings_from,
    warn,
)
from agent.hub_models import REASONS
from agent.models import BlacklistOutcome, RemovalOutcome
from agent.session import AgentSession
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
    reason: Annotated[
        str | None,
        typer.Option(
            "--reason",
            help=f"Why, as the hub records it: {', '.join(REASONS)}. Default: sharing.default_reason.",
        ),
    ] = None,
) -> None:
    """Blacklist a buyer by MemberId and Name (the backend's blacklist link) and report them to the hub.

    The report goes to the hub as soon as the backend confirms (with a hub configured); when the hub cannot
    be reached it waits in the outbox for the next cycle.
    """
    settings = settings_from(ctx)
    if reason is not None and reason not in REASONS:
        raise typer.BadParameter(
            f"unknown reason {reason!r}; use one of {', '.join(REASONS)}", param_hint="--reason"
        )
    with err_console.status(f"Blacklisting {member_id}"), AgentSession(settings) as agent:
        result, shared = agent.blacklist_add(member_id, name, reason=reason)
    if not result.ok:
        detail = f": {result.message}" if result.message else ""
        raise fail(f"the backend refused to blacklist {member_id} ({result.outcome.value}){detail}")
    console.print(f"{_ADD_MESSAGES[result.outcome]} {member_id} ({name}).")
    if shared is None or not settings.hub.url:
        return
    if shared.pushed:
        console.print(f"Reported to the hub (reason: {shared.reason}).")
    elif shared.recorded:
        warn(f"not reported to the hub yet ({shared.problem}); it waits in the outbox for the next sync")
    elif shared.problem:
        console.print(f"Not reported to the hub: {shared.problem}.")


@blacklist_app.command("remove")
def blacklist_remove(
    ctx: typer.Context,
    member_id: Annotated[str, typer.Argument(help="The buyer's MemberId.")],
) -> None:
    """Remove a buyer from your store's blacklist; your report on them is withdrawn from the hub at once.

    The buyer goes on the allowlist: the agent never blacklists them again automatically.
    """
    settings = settings_from(ctx)
    with err_console.status(f"Removing {member_id}"), AgentSession(settings) as agent:
        outcome = agent.remove(member_id)
        waiting = agent.state.outbox.counts()["pending"]
    if outcome is RemovalOutcome.REMOVED:
        console.print(f"Removed {member_id} from the blacklist.")
    else:
        console.print(f"{member_id} was not on the blacklist; nothing to remove.")
    if waiting and settings.hub.url:
        warn(f"{plural(waiting, 'change')} to the hub wait in the outbox for the next sync")
