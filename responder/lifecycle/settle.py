"""The lifecycle rules, pure: what an assessment means for an incident, and when to look again.

Everything is passed in (the verdicts, the previous ones, the windows, `now`), so the rules are
unit-tested without Redis.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from responder.config import Config
from responder.lifecycle.changes import diff, headline
from responder.lifecycle.maintenance import Window, covering, covering_services
from responder.model.incident import Incident
from responder.model.verdict import ClientVerdict, failing_servers, worst


def settle(inc: Incident, clients: list[ClientVerdict], previous: dict[str, ClientVerdict],
           windows: list[Window], config: Config, now: datetime) -> None:
    """Apply an assessment: what changed per client, maintenance, severity, status, headline.

    Pure: everything it needs is passed in, so the lifecycle rules are unit-tested without Redis.
    """
    active = [w for w in windows if w.active(now)]
    inv = config.inventory
    # the alerting servers that touch each client, from the servers' side: linear in the alerts (a
    # scan of every alerting server per client took seconds in a 1,000-server outage)
    touching: dict[str, set[str]] = {}
    for s in set(inc.alerting_servers):
        for name in inv.affected_by(s):
            touching.setdefault(name, set()).add(s)
    for c in clients:
        c.changes = diff(previous.get(c.client), c, config.report.language)
        failing = failing_servers(c)
        window = covering(active, c.client, failing or touching.get(c.client, set()))
        # issue 15: else service windows, when they cover every service in trouble (maintenance.py)
        window = window or covering_services(active, c)
        c.maintenance = window.describe() if window else None
    inc.clients = clients
    inc.failed += [c.client for c in clients if c.severity != "ok" and c.client not in inc.failed]
    inc.severity = worst(c.severity for c in clients)
    quiet = [c for c in clients if c.maintenance]
    inc.quiet = "every affected client is under planned maintenance: " + "; ".join(
        sorted({c.maintenance or "" for c in quiet})) if clients and len(quiet) == len(clients) else None
    inc.assessed_at = now
    inc.updated_at = now
    told = [c for c in clients if not c.maintenance]  # the headline is news: nothing of a client in a window
    if inc.alerts and inc.all_resolved and inc.severity == "ok" and not inc.dirty:
        inc.status = "resolved"
        inc.resolved_at = now
        inc.headline = headline(told, True, config.report.language, was_failing=bool(inc.failed))
    else:
        inc.status = "assessed"
        inc.headline = headline(told, False, config.report.language) if inc.alerts and inc.all_resolved \
            else None


def next_look(inc: Incident, windows: list[Window], config: Config, now: datetime) -> datetime | None:
    """When to assess again without an alert: every `incidents.recheck` while a client fails (so a recovery
    is seen, and reminders fall due), and at the start or end of a window touching its clients (so its
    silence begins and ends on time). None once the incident is over."""
    if inc.status == "resolved":
        return None
    times: list[datetime] = []
    if config.incidents.recheck and any(c.severity != "ok" for c in inc.clients):
        times.append(now + timedelta(seconds=config.incidents.recheck))
    inv = config.inventory
    servers = {s for c in inc.affected if c in inv.clients
               for s in (*inv.clients[c].servers, *inv.clients[c].depends_on)}
    for w in windows:
        if (w.client is not None and w.client in inc.affected) or (w.server is not None and w.server in servers):
            times += [t for t in (w.starts, w.ends) if t > now]
    return min(times) if times else None
