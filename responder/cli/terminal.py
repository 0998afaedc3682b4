"""Verdicts and incidents for a person at a terminal (rich tables and a progress bar).

Ids and times are never cut, at any width and in a pipe: their columns keep their full width and the
free-text columns fold instead.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from responder.inventory import HostMatch, Inventory
from responder.lifecycle.maintenance import Window
from responder.model.incident import Incident
from responder.text import escape_controls
from responder.wording import incident_headline, of_failing

STYLE = {"critical": "bold red", "degraded": "bold yellow", "ok": "green", None: "dim"}
# C0, DEL, C1, and the bidirectional overrides: alert text could retitle, clear or reorder the terminal
def shown(text: str | None) -> str:
    """Alert text as a terminal may show it (responder.text)."""
    return escape_controls(text)


def severity_text(severity: str | None) -> Text:
    return Text((severity or "pending").upper(), style=STYLE.get(severity, ""))


def _whole(table: Table, name: str, values: list[str], **kwargs: Any) -> None:
    """A column that never cuts its values (ids, times): as wide as its longest value."""
    table.add_column(name, no_wrap=True, min_width=max([len(name), *(len(v) for v in values)]), **kwargs)


def print_incident(console: Console, incident: Incident, stored: bool = True, language: str = "en") -> None:
    kind = ", from check" if incident.kind == "check" else ""
    head = Text.assemble(severity_text(incident.severity),
                         f"  incident {shown(incident.id)}  ({incident.status}{kind})")
    console.print(head, soft_wrap=True)
    console.print(Text(shown(incident_headline(incident, language)), style="bold"), soft_wrap=False)
    if not stored:
        console.print(Text("dry run: not stored (with --notify it is kept and can be opened)", style="dim"))
    if incident.progress:
        console.print(Text(incident.progress.summary(incident.running), style="dim"))
    if incident.quiet:
        console.print(Text.assemble(("notifications held back:", "yellow"), f" {shown(incident.quiet)}"))
    table = Table(show_lines=False, expand=False)
    table.add_column("client", style="bold")
    table.add_column("severity")
    table.add_column("summary", overflow="fold")
    for c in incident.clients:
        summary = Text(shown(c.summary))
        if c.maintenance:
            summary.append(f"\n{shown(c.maintenance)}", style="yellow")
        table.add_row(shown(c.client), severity_text(c.severity), summary)
    if incident.clients:
        console.print(table)
    failing = Table(title="failing or slow checks", title_justify="left")
    for col in ("client", "service", "server", "status", "latency", "error"):
        failing.add_column(col, overflow="fold")
    rows = 0
    for c in incident.clients:
        for s in c.services:
            for k in s.checks:
                if not k.ok or k.slow:
                    rows += 1
                    service = Text(f"{shown(s.service)}\n{of_failing(s.servers_failing, s.servers_total)}")
                    failing.add_row(shown(c.client), service, shown(k.server), str(k.status or "–"),
                                    f"{k.latency_ms:.0f} ms" if k.latency_ms is not None else "",
                                    Text(shown(k.error) or ("slow" if k.slow else "")))
    if rows:
        console.print(failing)
    for c in incident.clients:
        for log in c.logs:
            console.print(Text.assemble((f"logs {shown(c.client)} · {shown(log.server)} ", "bold"),
                                        shown(log.path), (f"  {shown(log.error)}" if log.error else "", "red"),
                                        (f"  ({shown(log.note)})" if log.note else "", "yellow")))
            for line in log.lines[:20]:
                console.print(Text("  " + shown(line)), highlight=False)
    if incident.unmapped_hosts:
        console.print(Text("not in the inventory: " + ", ".join(map(shown, incident.unmapped_hosts)),
                           style="yellow"))
    for n in incident.notifications:
        console.print(Text(f"notified {n.channel} {shown(n.to)}: {n.status}"
                           + (f" ({shown(n.error)})" if n.error else "")))


def print_incident_list(console: Console, incidents: list[Incident]) -> None:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    _whole(table, "incident", [i.id for i in incidents])
    _whole(table, "severity", ["CRITICAL"])
    _whole(table, "status", ["resolved"])
    table.add_column("clients", overflow="fold", ratio=1)
    _whole(table, "alerts", [])
    _whole(table, "opened (UTC)", ["2000-01-01 00:00"])
    for i in incidents:
        clients = ", ".join(c.client for c in i.clients) or ", ".join(i.affected)
        if i.kind == "check":
            clients = f"check: {clients}"
        table.add_row(shown(i.id), severity_text(i.severity), i.status, Text(shown(clients)), str(len(i.alerts)),
                      f"{i.opened_at:%Y-%m-%d %H:%M}")
    console.print(table)


def print_windows(console: Console, windows: list[Window], now: Any) -> None:
    """Maintenance windows: ids and both ends whole; what they cover and why fold."""
    if not windows:
        console.print("no maintenance windows")
        return
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    _whole(table, "id", [w.id for w in windows])
    table.add_column("on", overflow="fold")
    _whole(table, "from (UTC)", ["2000-01-01 00:00"])
    _whole(table, "to (UTC)", ["2000-01-01 00:00"])
    table.add_column("state", overflow="fold")
    table.add_column("reason", overflow="fold", ratio=1)
    table.add_column("origin", overflow="fold")
    for w in windows:
        state = "open" if w.active(now) else ("ended" if w.ends <= now else "planned")
        table.add_row(w.id, w.target(),
                      f"{w.starts:%Y-%m-%d %H:%M}", f"{w.ends:%Y-%m-%d %H:%M}", state, Text(shown(w.reason)), w.origin)
    console.print(table)


def print_lookup(console: Console, inventory: Inventory, match: HostMatch) -> None:
    if match.server is None:
        console.print(Text(f"{shown(match.host)}: not in the inventory", style="yellow"))
        return
    server = inventory.servers[match.server]
    console.print(Text.assemble((match.server, "bold"), f"  address {server.address}",
                                f"  aliases {', '.join(server.aliases)}" if server.aliases else ""))
    for c in match.clients:
        via = "" if c in inventory.clients_on(match.server) else " (depends on it)"
        services = ", ".join(inventory.services_of(c)) or "no services"
        console.print(Text(f"  {c}{via}: {services}"))
    if not match.clients:
        console.print(Text("  no client runs on it"))


@contextlib.contextmanager
def progress_bar(console: Console, total: int, enabled: bool) -> Iterator[Any]:
    """A progress bar on a terminal; a no-op callback elsewhere."""
    if not enabled or not total:
        yield lambda _result: None
        return
    with Progress(TextColumn("probing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as progress:
        task = progress.add_task("probe", total=total)
        yield lambda _result: progress.advance(task)
