"""`share-all`, `sync`, `status`, `allow`, `disallow`, `undo`, `audit`: sharing, and the seller's levers.

Long work (`share-all`, `sync`, `undo`) shows its progress on stderr (`ProgressView`), so stdout keeps only
the result (a table, or JSON with --json).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from types import FrameType
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from agent.cli import hints
from agent.cli.app import (
    JsonOption,
    app,
    console,
    err_console,
    fail,
    print_hint,
    print_json,
    say,
    settings_from,
    warn,
)
from agent.cli.progress_view import ProgressView
from agent.log import with_config
from agent.session import AgentSession
from agent.sync.cycle_result import ShareReport
from agent.wording import details_text, plural, reasons_text

DryRunOption = Annotated[
    bool, typer.Option("--dry-run", help="Compute and print what would change; change nothing.")
]


@contextmanager
def _stop_on_signals() -> Iterator[threading.Event]:
    """First Ctrl+C / SIGTERM: finish the current action, save, stop. A second one interrupts at once."""
    stop = threading.Event()

    def handler(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        err_console.print("stopping after the current action (again to interrupt now)", style="yellow")
        stop.set()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


@app.command("share-all")
def share_all_command(
    ctx: typer.Context, dry_run: DryRunOption = False, json_output: JsonOption = False
) -> None:
    """Push your whole blacklist (your own entries only, never the agent's) to the hub as a full snapshot.

    With --dry-run, list the buyers that would be pushed and withdrawn (also in --json), changing nothing.
    """
    settings = settings_from(ctx)
    with AgentSession(settings) as agent, _stop_on_signals() as stop, ProgressView(err_console) as view:
        report = agent.share_all(dry_run=dry_run, progress=view, stop=stop)
    if json_output:
        print_json(report.as_dict())
    else:
        console.print(report.render())
        if dry_run:
            _print_share_preview(report)
    _hint_for_problems(report.errors)
    if not report.ok:
        raise typer.Exit(1)


def _print_share_preview(report: ShareReport) -> None:
    """The buyers a share-all would push and withdraw, by name."""
    if not report.to_push and not report.to_withdraw:
        say("Nothing would change on the hub.")
        return
    table = Table(title="What share-all would do (dry run)", title_justify="left")
    table.add_column("buyer", overflow="fold")
    table.add_column("on the hub")
    for member_id in report.to_push:
        name = report.names.get(member_id)
        table.add_row(escape(f"{name} ({member_id})" if name else member_id), "reported (yours)")
    for member_id in report.to_withdraw:
        table.add_row(escape(member_id), "withdrawn (no longer on your blacklist)")
    console.print(table)


def _hint_for_problems(problems: list[str]) -> None:
    for hint in hints.for_problems(problems):
        print_hint(hint)


@app.command("sync")
def sync_command(ctx: typer.Context, dry_run: DryRunOption = False, json_output: JsonOption = False) -> None:
    """One cycle: read your blacklist and new orders, push your changes, pull the shared list, act on it."""
    settings = settings_from(ctx)
    with AgentSession(settings) as agent, _stop_on_signals() as stop, ProgressView(err_console) as view:
        report = agent.sync(dry_run=dry_run, stop=stop, progress=view)
    if json_output:
        print_json(report.as_dict())
    else:
        console.print(report.render())
    _hint_for_problems(report.errors)
    if not report.ok:
        if report.outcome == "partial":
            err_console.print("partial success: see the errors above", style="yellow")
        raise typer.Exit(1)


@app.command("status")
def status_command(ctx: typer.Context, json_output: JsonOption = False) -> None:
    """Show the last cycle, the next run, counts by origin, the outbox, alerts and the review list."""
    from agent.backend.login_guard import LoginGuard

    settings = settings_from(ctx)
    with AgentSession(settings) as agent:
        data = agent.status()
        data["policy_warning"] = agent.reasons_warning()
    refusal = LoginGuard(settings.session_path).refusal()
    data["login_refused"] = None if refusal is None else {**refusal.as_dict(), "hint": refusal.describe()}
    if json_output:
        print_json(data)
        return
    if data["policy_warning"]:
        warn(data["policy_warning"])
    last = data["last_cycle"]
    table = Table(title="blacklist-agent status", show_header=False, title_justify="left")
    table.add_column("what")
    table.add_column("value", overflow="fold")
    if last:
        table.add_row(
            "last cycle",
            f"{last['kind']} {last['outcome']} at {_when(last['finished_at'] or last['started_at'])}: "
            f"{last['added']} added, {last['retracted']} retracted, "
            f"{plural(last['reports_pushed'], 'report')} pushed",
        )
        for problem in last["errors"] + last["warnings"]:
            table.add_row("", escape(with_config(problem)))
    else:
        table.add_row("last cycle", "never ran")
    table.add_row(
        "next run",
        _when(data["next_run_at"]) or with_config("not scheduled (is `blacklist-agent run` running?)"),
    )
    counts = data["blacklist"]
    table.add_row("blacklist", f"{counts['manual']} yours, {counts['agent']} added by the agent")
    table.add_row("allowlist", plural(data["allowlist"], "buyer"))
    outbox = data["outbox"]
    table.add_row(
        "outbox",
        f"{outbox['pending']} waiting"
        + (f", {outbox['rejected']} refused by the hub" if outbox["rejected"] else ""),
    )
    console.print(table)
    if refusal is not None:
        console.print(
            Text(with_config(f"login on hold: {refusal.describe()}"), style="bold red"), soft_wrap=True
        )
    _print_alerts(data["alerts"])
    if data["review"]:
        review = Table(
            title="For your review (good customers here, on the shared list)", title_justify="left"
        )
        for column in ("buyer", "completed orders", "reporters", "score"):
            review.add_column(column)
        for r in data["review"]:
            review.add_row(
                escape(f"{r['name']} ({r['member_id']})"),
                str(r["completed_orders"]),
                str(r["reporters"]),
                str(r["score"]),
            )
        console.print(review)


def _print_alerts(alerts: list[dict[str, Any]]) -> None:
    if not alerts:
        return
    table = Table(title="Check before shipping: orders from buyers on the shared list", title_justify="left")
    for column in ("order", "buyer", "reporters", "score", "reasons"):
        table.add_column(column)
    for a in alerts:
        reasons = reasons_text(a["reasons"])
        table.add_row(
            escape(a["order_id"]),
            escape(f"{a['name']} ({a['member_id']})"),
            str(a["reporters"]),
            str(a["score"]),
            reasons,
        )
    console.print(table)


@app.command("allow")
def allow_command(
    ctx: typer.Context,
    member_id: Annotated[str, typer.Argument(help="The buyer's MemberId.")],
    undo: Annotated[
        bool,
        typer.Option("--undo", help="Also remove the entry the agent added for this buyer (as `undo` does)."),
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Never blacklist this buyer automatically. An entry the agent already added stays until --undo."""
    with AgentSession(settings_from(ctx)) as agent:
        automatic = member_id in agent.state.blacklist.automatic()
        known = agent.state.blacklist.known().get(member_id)
        if undo and automatic:
            with ProgressView(err_console) as view:
                undone = agent.undo(member_id, progress=view)  # allowlists first, then removes
            added, still_blacklisted = True, False
        else:
            undone, added, still_blacklisted = [], agent.allow(member_id), automatic
    if json_output:
        print_json(
            {
                "member_id": member_id,
                "allowlisted": True,
                "already": not added,
                "undone": bool(undone),
                "still_blacklisted_by_agent": still_blacklisted,
            }
        )
        return
    for u in undone:
        say(f"Removed {u.name} ({u.member_id}) from your blacklist and put them on the allowlist.")
    if not undone:
        now = "now" if added else "already"
        say(f"{member_id} is {now} on the allowlist: the agent never blacklists them automatically.")
    if still_blacklisted:
        say(
            f"The agent had already blacklisted {member_id}, and allowing does not remove that entry: "
            f"run `blacklist-agent allow --undo {member_id}` (or `blacklist-agent undo {member_id}`) "
            "to remove it."
        )
    elif undo and known is not None and known.origin == "manual":
        say(
            f"{member_id} is on your blacklist by your own hand; the agent never removes those. "
            f"`blacklist-agent blacklist remove {member_id}` does."
        )


@app.command("disallow")
def disallow_command(
    ctx: typer.Context,
    member_id: Annotated[str, typer.Argument(help="The buyer's MemberId.")],
    json_output: JsonOption = False,
) -> None:
    """Take a buyer off the allowlist: the agent may blacklist them again when the shared list says so."""
    with AgentSession(settings_from(ctx)) as agent:
        removed = agent.disallow(member_id)
    if json_output:
        print_json({"member_id": member_id, "removed": removed})
        return
    if removed:
        say(
            f"{member_id} is off the allowlist: a later sync blacklists them if the shared list passes "
            "your policy."
        )
    else:
        say(f"{member_id} was not on the allowlist; nothing changed.")


@app.command("undo")
def undo_command(
    ctx: typer.Context,
    member_id: Annotated[str | None, typer.Argument(help="The buyer's MemberId.")] = None,
    everything: Annotated[bool, typer.Option("--all", help="Undo every entry the agent added.")] = False,
    dry_run: DryRunOption = False,
    json_output: JsonOption = False,
) -> None:
    """Remove what the agent added (one buyer or --all), allowlist them, and record why in the audit log."""
    if (member_id is None) == (not everything):
        raise fail("give either a MEMBER_ID or --all", code=2)
    with AgentSession(settings_from(ctx)) as agent, ProgressView(err_console) as view:
        undone = agent.undo(member_id, everything=everything, dry_run=dry_run, progress=view)
    if json_output:
        print_json(
            [{"member_id": u.member_id, "name": u.name, "score": u.score, "dry_run": dry_run} for u in undone]
        )
        return
    if not undone:
        say("The agent has added nothing to undo.")
    verb = "Would remove" if dry_run else "Removed"
    for u in undone:
        say(f"{verb} {u.name} ({u.member_id}) and put them on the allowlist.")
    if dry_run and undone:
        say(f"(dry run: nothing changed; {plural(len(undone), 'entry', 'entries')} would be undone)")


@app.command("audit")
def audit_command(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option("--limit", min=1, help="How many recent actions to list.")] = 50,
    json_output: JsonOption = False,
) -> None:
    """List each entry the agent added with its provenance, and the latest automatic actions."""
    with AgentSession(settings_from(ctx)) as agent:
        data = agent.audit(limit=limit)
    if json_output:
        print_json(data)
        return
    entries = Table(title="Added by the agent", title_justify="left")
    for column in ("buyer", "reporters", "score", "reasons", "added at"):
        entries.add_column(column)
    for e in data["automatic_entries"]:
        p = e["provenance"]
        entries.add_row(
            escape(f"{e['name']} ({e['member_id']})"),
            str(p.get("reporters", "")),
            str(e["score"]),
            escape(reasons_text(p.get("reasons"))),
            _when(e["added_at"]),
        )
    console.print(entries if data["automatic_entries"] else "The agent has added no entry.")
    log = Table(title="Latest automatic actions", title_justify="left")
    for column in ("when", "action", "buyer", "details"):
        log.add_column(column, overflow="fold")
    for r in data["log"]:
        buyer = f"{r['name']} ({r['member_id']})" if r["name"] else r["member_id"]
        details = details_text(r["details"], member_id=r["member_id"])
        log.add_row(_when(r["at"]), _ACTIONS.get(r["action"], r["action"]), escape(buyer), escape(details))
    if data["log"]:
        console.print(log)


# Audit actions as a seller reads them.
_ACTIONS = {
    "add": "added",
    "retract": "retracted",
    "evict": "removed to make room",
    "undo": "undone",
    "allow": "allowlisted",
    "disallow": "taken off the allowlist",
    "seller_removed": "removed by you",
    "add_refused": "refused by the store",
    "share_all": "shared all",
}


def _when(iso_text: str | None) -> str:
    """ISO timestamps from the state, shown to the minute in the machine's local time."""
    if not iso_text:
        return ""
    return datetime.fromisoformat(iso_text).astimezone().strftime("%Y-%m-%d %H:%M")
