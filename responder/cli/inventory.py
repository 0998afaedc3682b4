"""`inventory check` and `inventory lookup`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from responder import config as config_module
from responder.cli.common import config_option, load_config, out
from responder.errors import ConfigError
from responder.inventory import load_inventory_data


@click.group()
def inventory() -> None:
    """Validate the inventory; look up a host."""


@inventory.command("check")
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@config_option
def inventory_check(file: str | None, config_path: str | None) -> None:
    """Validate the inventory (FILE, or the config's) and print its size."""
    if file:
        data = config_module.read_yaml(Path(file))
        if isinstance(data, dict) and "inventory" in data:
            inv = config_module.load(file).inventory
        else:
            problems: list[str] = []
            data = config_module.substitute_env(data or {}, problems=problems)
            if problems:
                raise ConfigError(problems, file)
            inv = load_inventory_data(data, source=file)
    else:
        inv = load_config(config_path).inventory
    checks = sum(len(inv.targets(c)) for c in inv.clients)
    out.print(f"inventory ok: {len(inv.clients)} clients, {len(inv.servers)} servers, "
              f"{len(inv.services)} catalogue services, {checks} checks")


@inventory.command("lookup")
@click.argument("host")
@click.option("--json", "as_json", is_flag=True)
@config_option
def inventory_lookup(host: str, as_json: bool, config_path: str | None) -> None:
    """Which clients and services a host name, alias, address or host:port maps to."""
    from responder.cli.terminal import print_lookup

    inv = load_config(config_path).inventory
    match = inv.lookup(host)
    if as_json:
        click.echo(json.dumps({
            "host": host, "server": match.server,
            "clients": [{"client": c, "services": list(inv.services_of(c)),
                         "depends_on": c not in inv.clients_on(match.server or "")} for c in match.clients],
        }, indent=2))
    else:
        print_lookup(out, inv, match)
    if match.server is None:
        sys.exit(1)


COMMANDS: list[click.Command] = [inventory]
