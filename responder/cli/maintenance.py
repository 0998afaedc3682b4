"""`responder maintenance add|list|end`: planned work that silences notifications, not assessments."""

from __future__ import annotations

import json
from datetime import datetime

import click
from rich.table import Table

from responder.cli.common import config_option, fail, load_config, open_store, out
from responder.config import Config, parse_duration
from responder.lifecycle import maintenance
from responder.lifecycle.flight import reassess
from responder.model.alert import utcnow
from responder.runtime.queues import assess_scheduler
from responder.store import Store


@click.group("maintenance")
def group() -> None:
    """Planned work: alerts inside a window are recorded and assessed but not notified."""


@group.command("add")
@click.option("--client", metavar="C", help="the client under planned work")
@click.option("--server", metavar="S", help="the server under planned work (name, alias or address)")
@click.option("--for", "duration", required=True, metavar="DURATION", help="how long, e.g. 30m or 2h")
@click.option("--reason", default="", help="shown on the incident instead of a notification")
@config_option
def add(client: str | None, server: str | None, duration: str, reason: str, config_path: str | None) -> None:
    """Open a window from now."""
    cfg = load_config(config_path)
    try:
        seconds = parse_duration(duration)
    except ValueError as exc:
        fail(f"--for: {exc}")
    with open_store(cfg) as store:
        try:
            window = maintenance.add(store, cfg, client=client, server=server, duration=seconds, reason=reason)
        except ValueError as exc:
            fail(str(exc))
        _reassess(store, cfg, window, window.ends)  # its clients' silence ends with it
    out.print(f"{window.id}: {window.describe()}")


def _reassess(store: Store, cfg: Config, window: maintenance.Window, when: datetime) -> None:
    """Assess the open incidents holding the window's clients at `when`, so the page and the messages
    follow the window."""
    reassess(store, assess_scheduler(store.r), maintenance.clients_of(window, cfg), when)


@group.command("list")
@click.option("--all", "show_all", is_flag=True, help="also windows that have ended")
@click.option("--json", "as_json", is_flag=True)
@config_option
def list_windows(show_all: bool, as_json: bool, config_path: str | None) -> None:
    """Windows that are open or yet to come (inventory ones too)."""
    cfg = load_config(config_path)
    now = utcnow()
    with open_store(cfg) as store:
        found = [w for w in maintenance.windows(store, cfg) if show_all or w.ends > now]
    if as_json:
        click.echo(json.dumps([w.model_dump(mode="json") for w in found], indent=2))
        return
    table = Table()
    for col in ("id", "on", "from (UTC)", "to (UTC)", "state", "reason", "origin"):
        table.add_column(col)
    for w in found:
        state = "open" if w.active(now) else ("ended" if w.ends <= now else "planned")
        table.add_row(w.id, f"client {w.client}" if w.client else f"server {w.server}",
                      f"{w.starts:%Y-%m-%d %H:%M}", f"{w.ends:%Y-%m-%d %H:%M}", state, w.reason, w.origin)
    out.print(table if found else "no maintenance windows")


@group.command("end")
@click.argument("window_id", metavar="ID")
@config_option
def end(window_id: str, config_path: str | None) -> None:
    """End a window now."""
    cfg = load_config(config_path)
    with open_store(cfg) as store:
        try:
            window = maintenance.end(store, window_id)
        except LookupError as exc:
            fail(str(exc))
        _reassess(store, cfg, window, utcnow())
    out.print(f"ended {window.id} at {window.ends:%Y-%m-%d %H:%M:%S} UTC")


COMMANDS: list[click.Command] = [group]
