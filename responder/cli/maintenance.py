"""`responder maintenance add|list|end`: planned work that silences notifications, not assessments."""

from __future__ import annotations

import json

import click

from responder.cli.common import config_option, fail, load_config, open_store, out
from responder.config import parse_duration
from responder.lifecycle import maintenance
from responder.model.alert import utcnow


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
    out.print(f"{window.id}: {window.describe()}")


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
    from responder.cli.terminal import print_windows

    print_windows(out, found, now)


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
    out.print(f"ended {window.id} at {window.ends:%Y-%m-%d %H:%M:%S} UTC")


COMMANDS: list[click.Command] = [group]
