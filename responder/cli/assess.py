"""`check` and `replay`: the assessment run by hand, in this process.

With `--notify` the verdict is stored as an incident (kind `check` for `check`), so the link in every
message opens it and `responder incident ID` reads it; without, it is a dry run and nothing is stored.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click
import pydantic_core

from responder.cli.common import config_option, err, fail, load_config, open_store, out
from responder.config import Config
from responder.errors import PayloadError
from responder.intake.mapping import map_alerts
from responder.intake.sources import detect_source, parser_for
from responder.lifecycle import maintenance
from responder.lifecycle.settle import settle
from responder.model.alert import utcnow
from responder.model.incident import Incident, new_id
from responder.runtime.loop import run as run_loop

if TYPE_CHECKING:
    from responder.store import Store


def _json(data: object) -> str:
    """json.dumps(indent=2, ensure_ascii=False), written by pydantic's serializer: with an indent the
    standard library falls back to its pure-Python encoder, seconds on 40,000 checks."""
    try:
        return pydantic_core.to_json(data, indent=2).decode()
    except (ValueError, TypeError, UnicodeDecodeError, pydantic_core.PydanticSerializationError):
        return json.dumps(data, indent=2, ensure_ascii=False)


def _echo_json(incident: Incident) -> None:
    """The verdict JSON (`incident.public()` with an indent of 2), written one client at a time: the
    whole document as one dict, then one string, then bytes, tripled the peak memory of a large check."""
    clients = incident.clients
    head = _json(incident.model_copy(update={"clients": []}).public())
    before, found, after = head.partition('\n  "clients": []')
    if not found or not clients:
        click.echo(_json(incident.public()))
        return
    write = sys.stdout.write
    write(before + '\n  "clients": [')
    for i, client in enumerate(clients):
        # a JSON text has no raw newline inside a string, so re-indenting by lines is exact
        write(("\n    " if i == 0 else ",\n    ") + _json(client.model_dump(mode="json")).replace("\n", "\n    "))
    write("\n  ]" + after + "\n")
    sys.stdout.flush()


def _assess_inline(cfg: Config, incident: Incident, *, as_json: bool, notify: bool, evidence: bool = True,
                   servers: list[str] | None = None, services: list[str] | None = None) -> int:
    from responder.cli.terminal import print_incident, progress_bar
    from workers.assess.inline import assess  # no redis or rq: a check stores nothing

    inv = cfg.inventory
    show = not as_json and out.is_terminal
    # the bar's total builds every target once more: only for a bar someone sees
    total = sum(len(inv.targets(c, servers=servers, services=services)) for c in incident.affected) if show else 0
    with progress_bar(err, total, show) as advance:
        verdicts = run_loop(assess(cfg, incident.affected, servers=servers, services=services,
                                   alerts=incident.alerts, evidence=evidence,
                                   on_result=advance if show else None))
    # the job's own rules (status, headline, maintenance); no store here, so no "what changed"
    settle(incident, verdicts, {}, maintenance.from_inventory(cfg), cfg, utcnow())
    if notify:
        from workers.notify.job import plan, send_all  # jinja2 and the channels: only when sending

        with open_store(cfg) as store:
            _keep(store, incident)  # first, so the link in the message already opens
            incident.notifications = asyncio.run(send_all(cfg, incident, plan(cfg, incident)))
            _keep(store, incident)
    if as_json:
        _echo_json(incident)
    else:
        print_incident(out, incident, stored=notify, language=cfg.report.language)
    return 1 if incident.severity == "critical" else 0


def _keep(store: Store, incident: Incident) -> None:
    with store.guard(), store.transaction() as pipe:
        store.put_incident(pipe, incident)
        for verdict in incident.clients:
            store.put_last_verdict(pipe, verdict)


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--source", type=click.Choice(["alertmanager", "icinga", "zabbix"]), help="skip detection")
@click.option("--json", "as_json", is_flag=True, help="print the verdict JSON")
@click.option("--notify", is_flag=True, help="send notifications (dry run without it)")
@config_option
def replay(file: str, source: str | None, as_json: bool, notify: bool, config_path: str | None) -> None:
    """Run a saved alert payload through the pipeline and print the verdict.

    \b
    Exit status: 0 no client is critical, 1 some client is critical, 2 bad usage or bad input.
    """
    cfg = load_config(config_path)
    try:
        body = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
    except OSError as exc:
        fail(f"{file}: cannot read: {exc.strerror or exc}")
    name = source or detect_source(body)
    try:
        batch = parser_for(name)(body)
    except PayloadError as exc:
        fail(f"{file}: {exc}")
    now = utcnow()
    incident = Incident(id=new_id(now), opened_at=now, updated_at=now, truncated=batch.truncated,
                        notes=list(batch.warnings))
    for m in map_alerts(batch.alerts, cfg.inventory, cfg.intake.host_labels):
        a = m.alert
        if a.event not in cfg.incidents.assess_on:
            incident.note(a.describe())
            continue
        if m.note:
            incident.note(m.note)
        incident.add_alert(a)
        if a.server:
            for c in cfg.inventory.affected_by(a.server):
                if c not in incident.affected:
                    incident.affected.append(c)
    sys.exit(_assess_inline(cfg, incident, as_json=as_json, notify=notify))


@click.command()
@click.option("--client", "clients", multiple=True, metavar="C", help="a client (repeatable)")
@click.option("--service", "services", multiple=True, metavar="S", help="a service across all clients that have it")
@click.option("--server", "servers", multiple=True, metavar="H",
              help="a server: name, alias or address; its clients' other servers count as not checked")
@click.option("--all", "everything", is_flag=True, help="every client in the inventory")
@click.option("--json", "as_json", is_flag=True, help="print the verdict JSON")
@click.option("--notify", is_flag=True, help="send notifications for the verdict")
@click.option("--logs", is_flag=True, help="also pull log lines from failing servers")
@config_option
def check(clients: tuple[str, ...], services: tuple[str, ...], servers: tuple[str, ...], everything: bool,
          as_json: bool, notify: bool, logs: bool, config_path: str | None) -> None:
    """Probe on demand (no alert needed) and print the verdict.

    A server left out by --server is not checked: neither passing nor failing, so a partial check
    never calls a client critical that still has servers nobody looked at.

    \b
    Exit status: 0 no client is critical, 1 some client is critical, 2 bad usage or bad input.
    """
    cfg = load_config(config_path)
    inv = cfg.inventory
    if not (clients or services or servers or everything):
        fail("name what to check: --client C, --service S, --server H or --all")
    for c in clients:
        if c not in inv.clients:
            fail(f"unknown client {c!r}")
    for s in services:
        if not inv.clients_with_service(s):
            fail(f"no client has a service {s!r}")
    server_names: list[str] = []
    for h in servers:
        name = inv.server_for(h)
        if name is None:
            fail(f"unknown server {h!r}")
        server_names.append(name)
    if everything:
        chosen = list(inv.clients)
    elif clients:
        chosen = list(clients)
    elif services:
        chosen = [c for s in services for c in inv.clients_with_service(s)]
    else:
        chosen = [c for s in server_names for c in inv.clients_on(s)]
    chosen = list(dict.fromkeys(chosen))
    if not chosen:
        fail("no client runs on the given servers")
    now = utcnow()
    incident = Incident(id=new_id(now), kind="check", opened_at=now, updated_at=now, affected=chosen)
    sys.exit(_assess_inline(cfg, incident, as_json=as_json, notify=notify, evidence=logs,
                            servers=server_names or None, services=list(services) or None))


COMMANDS: list[click.Command] = [replay, check]
