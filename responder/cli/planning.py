"""`impact` and `plan`: planned work worked out from the inventory alone, before anything goes down.

The rules live in responder/inventory/impact.py and plan.py; this only parses and prints.
"""

from __future__ import annotations

import json
import sys

import click
from rich.table import Table
from rich.text import Text

from responder.cli.common import config_option, fail, load_config, out
from responder.inventory.impact import Impact, UnknownHost, impact, resolve_hosts
from responder.inventory.plan import Plan, plan, scope


@click.command("impact")
@click.argument("hosts", nargs=-1, required=True, metavar="HOST...")
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of a table")
@config_option
def impact_command(hosts: tuple[str, ...], as_json: bool, config_path: str | None) -> None:
    """What taking these servers down would do to each client (no probes). Exit 1: an outage."""
    cfg = load_config(config_path)
    try:
        names = resolve_hosts(cfg.inventory, hosts)
    except UnknownHost as exc:
        fail(str(exc))
    result = impact(cfg.inventory, names, threshold=cfg.incidents.threshold)
    if as_json:
        click.echo(json.dumps(result.as_json(), indent=2))
    else:
        _print_impact(result)
    sys.exit(1 if result.critical else 0)


def _print_impact(result: Impact) -> None:
    from responder.cli.terminal import severity_text

    if not result.clients:
        out.print(Text(f"no client would lose anything: {', '.join(result.servers)}"))
        return
    out.print(Text(f"if {', '.join(result.servers)} went down:"))
    table = Table()
    for col in ("client", "service", "severity", "servers left", "min_healthy", "why"):
        table.add_column(col, overflow="fold")
    for c in result.clients:
        why = f"depends on {', '.join(c.depends_on_down)}" if c.depends_on_down else \
            f"loses {', '.join(c.servers_down)}"
        for i, s in enumerate(c.services):
            table.add_row(Text(c.client) if i == 0 else "", Text(s.service), severity_text(s.severity),
                          f"{s.servers_left} of {s.servers_total}", str(s.min_healthy), Text(why) if i == 0 else "")
    out.print(table)


@click.command("plan")
@click.option("--servers", metavar="H,H,...", help="these servers (names, aliases or addresses)")
@click.option("--service", metavar="S", help="every server of every client that has the service")
@click.option("--client", metavar="C", help="every server of one client")
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of a table")
@config_option
def plan_command(servers: str | None, service: str | None, client: str | None, as_json: bool,
                 config_path: str | None) -> None:
    """Batches for a rolling update that never take a client's service below its min_healthy."""
    if sum(x is not None for x in (servers, service, client)) != 1:
        fail("name exactly one of --servers H,H,..., --service S or --client C")
    cfg = load_config(config_path)
    inv = cfg.inventory
    try:
        hosts = resolve_hosts(inv, [h for h in (servers or "").split(",") if h.strip()])
        if servers is not None and not hosts:
            fail("--servers: no server named")
        names = scope(inv, servers=hosts, service=service, client=client)
    except ValueError as exc:
        fail(str(exc))
    result = plan(inv, names)
    if as_json:
        click.echo(json.dumps(result.as_json(), indent=2))
    else:
        _print_plan(result)


def _print_plan(result: Plan) -> None:
    out.print(Text(f"{len(result.batches)} batches (no plan can do with fewer than {result.lower_bound})"))
    batches = Table()
    batches.add_column("batch", justify="right")
    batches.add_column("servers", overflow="fold")
    for i, b in enumerate(result.batches, 1):
        batches.add_row(str(i), Text(", ".join(b)))
    out.print(batches if result.batches else Text("nothing can go down safely"))
    if result.blocked:
        out.print(Text("blocked, in no batch: going down alone would be an outage"))
        blocked = Table()
        for col in ("server", "client", "why"):
            blocked.add_column(col, overflow="fold")
        for x in result.blocked:
            blocked.add_row(Text(x.server), Text(x.client), Text(x.why))
        out.print(blocked)


COMMANDS: list[click.Command] = [impact_command, plan_command]
