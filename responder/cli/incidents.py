"""`incidents` and `incident ID`: reading the store in a terminal."""

from __future__ import annotations

import json

import click

from responder.cli.common import config_option, fail, load_config, open_store, out


@click.command("incidents")
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@config_option
def incidents_cmd(limit: int, as_json: bool, config_path: str | None) -> None:
    """Recent incidents, newest first."""
    from responder.cli.terminal import print_incident_list

    cfg = load_config(config_path)
    with open_store(cfg) as store:
        found = store.list_incidents(limit)
    if as_json:
        click.echo(json.dumps([i.public() for i in found], indent=2, ensure_ascii=False))
    else:
        print_incident_list(out, found)


@click.command("incident")
@click.argument("incident_id")
@click.option("--json", "as_json", is_flag=True)
@config_option
def incident_cmd(incident_id: str, as_json: bool, config_path: str | None) -> None:
    """One incident with its verdict."""
    from responder.cli.terminal import print_incident

    cfg = load_config(config_path)
    with open_store(cfg) as store:
        found = store.get_incident(incident_id)
    if found is None:
        fail(f"no incident {incident_id!r}")
    if as_json:
        click.echo(json.dumps(found.public(), indent=2, ensure_ascii=False))
    else:
        print_incident(out, found)


COMMANDS: list[click.Command] = [incidents_cmd, incident_cmd]
