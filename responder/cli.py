"""The `responder` command. Thin: parse arguments, call the stage, print.

Exit status: 0 fine, 1 the verdict is critical (check, replay), 2 bad usage or bad input (one
readable line on stderr).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import click
from rich.console import Console

from responder import config as config_module
from responder import maintenance
from responder.alerts import utcnow
from responder.config import Config
from responder.errors import ConfigError, PayloadError, ResponderError
from responder.incident import Incident, new_id
from responder.incidents import map_alerts, settle
from responder.inventory import load_inventory_data
from responder.queueing import redis_for
from responder.sources import detect_source, parser_for
from responder.store import Store, connect

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


class Fail(Exception):
    """Bad usage or input: one line on stderr and exit 2."""


def fail(message: str) -> NoReturn:
    raise Fail(message)


def load_config(path: str | None) -> Config:
    cfg = config_module.load(path)
    config_module.set_current(cfg)
    return cfg


config_option = click.option("--config", "config_path", metavar="FILE",
                             help="responder.yaml (default: $RESPONDER_CONFIG, then ./responder.yaml)")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="responder", prog_name="responder")
def cli() -> None:
    """Per-server alerts in, per-client verdicts out."""


# -- serve and worker -------------------------------------------------------------------------------


@cli.command()
@config_option
@click.option("--workers", type=click.IntRange(0, 256), default=0, show_default=True,
              help="also run N RQ worker processes")
def serve(config_path: str | None, workers: int) -> None:
    """Webhook receiver, web pages, JSON API and /metrics."""
    from responder import server

    cfg = load_config(config_path)
    source = str(Path(cfg.source_path).resolve()) if cfg.source_path else None
    server.run(cfg, source, workers)


@cli.command()
@config_option
@click.option("--burst", is_flag=True, help="exit when the queues are empty")
def worker(config_path: str | None, burst: bool) -> None:
    """An RQ worker for Responder's queues; run many, on many machines, against one Redis."""
    import redis

    from responder.queueing import QUEUES, ResponderWorker, redis_url

    cfg = load_config(config_path)
    url = redis_url(cfg)
    if not url:
        fail("no Redis to work from: set redis_url, or start `responder serve` (embedded Redis) first")
    conn = redis.Redis.from_url(url)
    try:
        conn.ping()
    except redis.RedisError as exc:
        fail(f"cannot reach Redis at {url}: {exc}")
    level = config_module.log_level()
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    ResponderWorker(list(QUEUES), connection=conn).work(burst=burst, with_scheduler=True, logging_level=level)


# -- replay and check ------------------------------------------------------------------------------


def _assess_inline(cfg: Config, incident: Incident, *, as_json: bool, notify: bool, evidence: bool = True,
                   servers: list[str] | None = None, services: list[str] | None = None) -> int:
    from responder.terminal import print_incident, progress_bar
    from workers.assess import assess
    from workers.notify.dispatch import deliver, plan

    inv = cfg.inventory
    total = sum(len(inv.targets(c, servers=servers, services=services)) for c in incident.affected)
    show = not as_json and out.is_terminal
    with progress_bar(err, total, show) as advance:
        verdicts = asyncio.run(assess(cfg, incident.affected, servers=servers, services=services,
                                      alerts=incident.alerts, evidence=evidence, on_result=advance))
    # the job's own rules (status, headline, maintenance); no store here, so no "what changed"
    settle(incident, verdicts, {}, maintenance.from_inventory(cfg), cfg, utcnow())
    if notify:
        incident.notifications = asyncio.run(deliver(cfg, incident, plan(cfg, incident)))
    if as_json:
        click.echo(json.dumps(incident.public(), indent=2, ensure_ascii=False))
    else:
        print_incident(out, incident)
    return 1 if incident.severity == "critical" else 0


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--source", type=click.Choice(["alertmanager", "icinga", "zabbix"]), help="skip detection")
@click.option("--json", "as_json", is_flag=True, help="print the verdict JSON")
@click.option("--notify", is_flag=True, help="send notifications (dry run without it)")
@config_option
def replay(file: str, source: str | None, as_json: bool, notify: bool, config_path: str | None) -> None:
    """Run a saved alert payload through the pipeline and print the verdict."""
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
    alerts = map_alerts(batch.alerts, cfg.inventory)
    now = utcnow()
    incident = Incident(id=new_id(now), opened_at=now, updated_at=now, truncated=batch.truncated,
                        notes=list(batch.warnings))
    for a in alerts:
        if a.event not in cfg.incidents.assess_on:
            incident.note(a.describe())
            continue
        incident.add_alert(a)
        if a.server:
            for c in cfg.inventory.affected_by(a.server):
                if c not in incident.affected:
                    incident.affected.append(c)
    sys.exit(_assess_inline(cfg, incident, as_json=as_json, notify=notify))


@cli.command()
@click.option("--client", "clients", multiple=True, metavar="C", help="a client (repeatable)")
@click.option("--service", "services", multiple=True, metavar="S", help="a service across all clients that have it")
@click.option("--server", "servers", multiple=True, metavar="H", help="a server: name, alias or address")
@click.option("--json", "as_json", is_flag=True, help="print the verdict JSON")
@click.option("--notify", is_flag=True, help="send notifications for the verdict")
@click.option("--logs", is_flag=True, help="also pull log lines from failing servers")
@config_option
def check(clients: tuple[str, ...], services: tuple[str, ...], servers: tuple[str, ...], as_json: bool,
          notify: bool, logs: bool, config_path: str | None) -> None:
    """Probe on demand (no alert needed) and print the verdict."""
    cfg = load_config(config_path)
    inv = cfg.inventory
    if not (clients or services or servers):
        fail("name what to check: --client C, --service S or --server H")
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
    if clients:
        chosen = list(clients)
    elif services:
        chosen = [c for s in services for c in inv.clients_with_service(s)]
    else:
        chosen = [c for s in server_names for c in inv.clients_on(s)]
    chosen = list(dict.fromkeys(chosen))
    if not chosen:
        fail("no client runs on the given servers")
    now = utcnow()
    incident = Incident(id=f"check-{new_id(now)}", opened_at=now, updated_at=now, affected=chosen)
    sys.exit(_assess_inline(cfg, incident, as_json=as_json, notify=notify, evidence=logs,
                            servers=server_names or None, services=list(services) or None))


# -- inventory ---------------------------------------------------------------------------------------


@cli.group()
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
    from responder.terminal import print_lookup

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


# -- reading the store -------------------------------------------------------------------------------


@contextlib.contextmanager
def open_store(cfg: Config) -> Iterator[Store]:
    """The store, starting the embedded Redis for the duration if none is running."""
    with redis_for(cfg) as url:
        store = Store(connect(url))
        if not store.ping():
            fail(f"cannot reach Redis at {url}")
        yield store


@cli.command("incidents")
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@config_option
def incidents_cmd(limit: int, as_json: bool, config_path: str | None) -> None:
    """Recent incidents, newest first."""
    from responder.terminal import print_incident_list

    cfg = load_config(config_path)
    with open_store(cfg) as store:
        found = store.list_incidents(limit)
    if as_json:
        click.echo(json.dumps([i.public() for i in found], indent=2, ensure_ascii=False))
    else:
        print_incident_list(out, found)


@cli.command("incident")
@click.argument("incident_id")
@click.option("--json", "as_json", is_flag=True)
@config_option
def incident_cmd(incident_id: str, as_json: bool, config_path: str | None) -> None:
    """One incident with its verdict."""
    from responder.terminal import print_incident

    cfg = load_config(config_path)
    with open_store(cfg) as store:
        found = store.get_incident(incident_id)
    if found is None:
        fail(f"no incident {incident_id!r}")
    if as_json:
        click.echo(json.dumps(found.public(), indent=2, ensure_ascii=False))
    else:
        print_incident(out, found)


def _register_groups() -> None:
    from responder.commands import register

    register(cli)


_register_groups()


# -- entry point ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; every expected failure becomes one line on stderr and exit 2."""
    try:
        rv = cli.main(args=argv, prog_name="responder", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.Abort:
        err.print("responder: aborted")
        sys.exit(130)
    except click.UsageError as exc:
        cmd = exc.ctx.command_path if exc.ctx else "responder"
        print(f"{cmd}: {exc.format_message()} (try --help)", file=sys.stderr)
        sys.exit(2)
    except click.ClickException as exc:
        print(f"responder: {exc.format_message()}", file=sys.stderr)
        sys.exit(2)
    except ConfigError as exc:
        for line in exc.lines():
            print(f"responder: {line}", file=sys.stderr)
        sys.exit(2)
    except (Fail, ResponderError) as exc:
        print(f"responder: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
    sys.exit(rv if isinstance(rv, int) else 0)
