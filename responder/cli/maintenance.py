"""`responder maintenance add|list|end`: planned work that silences notifications, not assessments."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import click

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
@click.option("--client", metavar="C", help="the client under planned work (with --service: that client's only)")
@click.option("--server", metavar="S", help="the server under planned work (name, alias or address)")
@click.option("--service", metavar="S", help="the service under planned work, on every client that has it")
@click.option("--plan", "plan_file", metavar="FILE", help="a saved `responder plan --json`: one window per server "
              "of --batch N")
@click.option("--batch", type=int, metavar="N", help="which batch of --plan (1 is the first)")
@click.option("--for", "duration", required=True, metavar="DURATION", help="how long, e.g. 30m or 2h")
@click.option("--reason", default="", help="shown on the incident instead of a notification")
@config_option
def add(client: str | None, server: str | None, service: str | None, plan_file: str | None, batch: int | None,
        duration: str, reason: str, config_path: str | None) -> None:
    """Open a window from now."""
    cfg = load_config(config_path)
    try:
        seconds = parse_duration(duration)
    except ValueError as exc:
        fail(f"--for: {exc}")
    if (plan_file is None) != (batch is None):
        fail("--plan FILE and --batch N go together")
    if plan_file is not None and (client or server or service):
        fail("--plan opens server windows itself: leave out --client, --server and --service")
    servers: list[str | None] = [server]
    if plan_file is not None and batch is not None:
        servers = list(_plan_batch(cfg, plan_file, batch))
        reason = reason or f"rolling update, batch {batch} of {plan_file}"
    with open_store(cfg) as store:
        for name in servers:
            try:
                window = maintenance.add(store, cfg, client=None if plan_file else client, server=name,
                                         service=service, duration=seconds, reason=reason)
            except ValueError as exc:
                fail(str(exc))
            _reassess(store, cfg, window, window.ends)  # its clients' silence ends with it
            out.print(f"{window.id}: {window.describe()}")


def _plan_batch(cfg: Config, path: str, batch: int) -> list[str]:
    """The servers of batch N (1-based) of a `plan --json` file, checked against the inventory before
    any window opens, so a bad file opens none."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        fail(f"{path}: cannot read: {exc.strerror or exc}")
    except (ValueError, UnicodeDecodeError) as exc:
        fail(f"{path}: not a plan (not JSON: {exc})")
    batches = data.get("batches") if isinstance(data, dict) else None
    if not isinstance(batches, list) or not all(
            isinstance(b, list) and all(isinstance(s, str) for s in b) for b in batches):
        fail(f"{path}: not a plan: expected {{\"batches\": [[server, ...], ...]}} as `responder plan --json` writes")
    if not 1 <= batch <= len(batches):
        fail(f"--batch: {path} has batches 1 to {len(batches)}, not {batch}" if batches else
             f"--batch: {path} has no batches")
    names = []
    for host in batches[batch - 1]:
        name = cfg.inventory.server_for(host)
        if name is None:
            fail(f"{path}: batch {batch}: unknown server {host!r}")
        names.append(name)
    if not names:
        fail(f"--batch: batch {batch} of {path} is empty")
    return names


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
        _reassess(store, cfg, window, utcnow())
    out.print(f"ended {window.id} at {window.ends:%Y-%m-%d %H:%M:%S} UTC")


COMMANDS: list[click.Command] = [group]
