"""`incidents`, `incident ID` and `incident recheck ID`: reading the store in a terminal, re-probing by hand."""

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
@click.argument("words", nargs=-1, required=True, metavar="ID | recheck ID")
@click.option("--json", "as_json", is_flag=True)
@config_option
def incident_cmd(words: tuple[str, ...], as_json: bool, config_path: str | None) -> None:
    """One incident with its verdict; `incident recheck ID` re-probes an open one now."""
    from responder.cli.terminal import print_incident

    if words[0] == "recheck":
        if len(words) != 2:
            fail("usage: responder incident recheck ID")
        recheck(words[1], config_path)
        return
    if len(words) != 1:
        fail(f"unexpected {' '.join(words[1:])!r}: responder incident ID, or responder incident recheck ID")
    incident_id = words[0]
    cfg = load_config(config_path)
    with open_store(cfg) as store:
        found = store.get_incident(incident_id)
    if found is None:
        fail(f"no incident {incident_id!r}")
    if as_json:
        click.echo(json.dumps(found.public(), indent=2, ensure_ascii=False))
    else:
        print_incident(out, found)


def recheck(incident_id: str, config_path: str | None) -> None:
    """Queue an assessment of an open incident now (the periodic re-check does it every `incidents.recheck`)."""
    from responder.lifecycle.flight import recheck as request
    from responder.model.alert import utcnow
    from responder.runtime.queues import assess_scheduler

    cfg = load_config(config_path)
    with open_store(cfg) as store:
        try:
            inc = request(store, assess_scheduler(store.r), incident_id, utcnow())
        except LookupError as exc:
            fail(str(exc))
    out.print(f"{inc.id}: re-check queued (assessment #{inc.generation})" if not inc.running
              else f"{inc.id}: an assessment is running; another follows it")


COMMANDS: list[click.Command] = [incidents_cmd, incident_cmd]
