"""`share-all`, `sync`, `status`, `allow`, `undo`, `audit`: sharing and the seller's levers over it."""

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
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from agent.cli.app import JsonOption, app, console, err_console, fail, print_json, settings_from
from agent.session import AgentSession
from agent.sync.progress import Progress as ProgressEvent

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
    """Push your whole blacklist (your own entries only, never the agent's) to the hub as a full snapshot."""
    settings = settings_from(ctx)
    with AgentSession(settings) as agent, _stop_on_signals() as stop:
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
        with Progress(*columns, console=err_console, transient=True) as bar:
            task = bar.add_task("Reading the blacklist and pushing", total=None)

            def advance(event: ProgressEvent) -> None:
                bar.update(
                    task, description=event.message or event.stage, completed=event.done, total=event.total
                )

            report = agent.share_all(dry_run=dry_run, progress=advance, stop=stop)
    if json_output:
        print_json(report.as_dict())
    else:
        console.print(report.render())
    if not report.ok:
        raise typer.Exit(1)


@app.command("sync")
def sync_command(ctx: typer.Context, dry_run: DryRunOption = False, json_output: JsonOption = False) -> None:
    """One cycle: read your blacklist and new orders, push your changes, pull the shared list, act on it."""
    settings = settings_from(ctx)
    with AgentSession(settings) as agent, _stop_on_signals() as stop, err_console.status("Syncing"):
        report = agent.sync(dry_run=dry_run, stop=stop)
    if json_output:
        print_json(report.as_dict())
    else:
        console.print(report.render())
    if not report.ok:
        if report.outcome == "partial":
            err_console.print("partial success: see the errors above", style="yellow")
        raise typer.Exit(1)


@app.command("status")
def status_command(ctx: typer.Context, json_output: JsonOption = False) -> None:
    """Show the last cycle, the next run, counts by origin, the outbox, alerts and the review list."""
    with AgentSession(settings_from(ctx)) as agent:
        data = agent.status()
    if json_output:
        print_json(data)
        return
    last = data["last_cycle"]
    table = Table(title="blacklist-agent status", show_header=False, title_justify="left")
    table.add_column("what")
    table.add_column("value", overflow="fold")
    if last:
        table.add_row(
            "last cycle",
            f"{last['kind']} {last['outcome']} at {_when(last['finished_at'] or last['started_at'])}: "
            f"{last['added']} added, {last['retracted']} retracted, {last['reports_pushed']} reports pushed",
        )
        for problem in last["errors"] + last["warnings"]:
            table.add_row("", escape(problem))
    else:
        table.add_row("last cycle", "never ran")
    table.add_row(
        "next run", _when(data["next_run_at"]) or "not scheduled (is `blacklist-agent run` running?)"
    )
    counts = data["blacklist"]
    table.add_row("blacklist", f"{counts['manual']} yours, {counts['agent']} added by the agent")
    table.add_row("allowlist", str(data["allowlist"]))
    outbox = data["outbox"]
    table.add_row(
        "outbox",
        f"{outbox['pending']} waiting"
        + (f", {outbox['rejected']} refused by the hub" if outbox["rejected"] else ""),
    )
    console.print(table)
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
        reasons = ", ".join(f"{k} ×{v}" for k, v in sorted(a["reasons"].items()))
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
    json_output: JsonOption = False,
) -> None:
    """Never blacklist this buyer automatically (your own blacklist is not changed)."""
    with AgentSession(settings_from(ctx)) as agent:
        added = agent.allow(member_id)
        automatic = member_id in agent.state.blacklist.automatic()
    if json_output:
        print_json(
            {
                "member_id": member_id,
                "allowlisted": True,
                "already": not added,
                "still_blacklisted_by_agent": automatic,
            }
        )
        return
    console.print(f"{member_id} is {'now' if added else 'already'} on the allowlist.")
    if automatic:
        console.print(
            f"The agent had already blacklisted {member_id}; "
            f"run `blacklist-agent undo {member_id}` to remove it."
        )


@app.command("undo")
def undo_command(
    ctx: typer.Context,
    member_id: Annotated[str | None, typer.Argument(help="The buyer's MemberId.")] = None,
    everything: Annotated[bool, typer.Option("--all", help="Undo every entry the agent added.")] = False,
    json_output: JsonOption = False,
) -> None:
    """Remove what the agent added (one buyer or --all), allowlist them, and record why in the audit log."""
    if (member_id is None) == (not everything):
        raise fail("give either a MEMBER_ID or --all", code=2)
    with AgentSession(settings_from(ctx)) as agent, err_console.status("Undoing"):
        undone = agent.undo(member_id, everything=everything)
    if json_output:
        print_json([{"member_id": u.member_id, "name": u.name, "score": u.score} for u in undone])
        return
    if not undone:
        console.print("The agent has added nothing to undo.")
    for u in undone:
        console.print(f"Removed {escape(u.name)} ({u.member_id}) and put them on the allowlist.")


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
        reasons = ", ".join(f"{k} ×{v}" for k, v in sorted((p.get("reasons") or {}).items()))
        entries.add_row(
            escape(f"{e['name']} ({e['member_id']})"),
            str(p.get("reporters", "")),
            str(e["score"]),
            reasons,
            _when(e["added_at"]),
        )
    console.print(entries if data["automatic_entries"] else "The agent has added no entry.")
    log = Table(title="Latest automatic actions", title_justify="left")
    for column in ("when", "action", "buyer", "details"):
        log.add_column(column, overflow="fold")
    for r in data["log"]:
        details = ", ".join(f"{k}={v}" for k, v in sorted(r["details"].items()))
        buyer = f"{r['name']} ({r['member_id']})" if r["name"] else r["member_id"]
        log.add_row(_when(r["at"]), r["action"], escape(buyer), escape(details))
    if data["log"]:
        console.print(log)


def _when(iso_text: str | None) -> str:
    """ISO timestamps from the state, shown to the minute in the machine's local time."""
    if not iso_text:
        return ""
    return datetime.fromisoformat(iso_text).astimezone().strftime("%Y-%m-%d %H:%M")
