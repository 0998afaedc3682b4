"""The lifecycle rules, pure: what an assessment means for an incident, and whether it is news.

Everything is passed in (the verdicts, the previous ones, the windows, `now`), so the rules are
unit-tested without Redis.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from responder.config import Config
from responder.lifecycle.changes import diff, headline
from responder.lifecycle.maintenance import Window, covering, covering_services
from responder.model.incident import Incident
from responder.model.verdict import ClientVerdict, failing_servers, worst


def state_of(incident: Incident) -> str:
    """A signature of what a person would be told: it changes when the verdict changes.
    Clients under planned maintenance are left out: their changes are nobody's news."""
    parts: list[str] = [incident.status, incident.severity or ""]
    for c in sorted(incident.clients, key=lambda c: c.client):
        if c.maintenance:
            continue
        failing = sorted(f"{s.service}@{k.server}" for s in c.services for k in s.checks if not k.ok)
        parts.append(f"{c.client}={c.severity}:{','.join(failing)}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def notification_due(incident: Incident, config: Config, now: datetime) -> str | None:
    """The verdict signature to notify, or None: unchanged within the cooldown, or held back by
    maintenance."""
    if incident.quiet:
        return None
    signature = state_of(incident)
    last = incident.last_state.split("-", 1)[-1] if incident.last_state else None
    recent = incident.last_notified_at is not None and \
        now - incident.last_notified_at < timedelta(seconds=config.incidents.cooldown)
    return None if last == signature and recent else signature


def settle(inc: Incident, clients: list[ClientVerdict], previous: dict[str, ClientVerdict],
           windows: list[Window], config: Config, now: datetime) -> None:
    """Apply an assessment: what changed per client, maintenance, severity, status, headline.

    Pure: everything it needs is passed in, so the lifecycle rules are unit-tested without Redis.
    """
    active = [w for w in windows if w.active(now)]
    alerting = set(inc.alerting_servers)
    inv = config.inventory
    for c in clients:
        c.changes = diff(previous.get(c.client), c, config.report.language)
        failing = failing_servers(c)
        touching = {s for s in alerting if c.client in inv.affected_by(s)}
        window = covering(active, c.client, failing or touching)
        # issue 15: else service windows, when they cover every service in trouble (maintenance.py)
        window = window or covering_services(active, c)
        c.maintenance = window.describe() if window else None
    inc.clients = clients
    inc.severity = worst(c.severity for c in clients)
    quiet = [c for c in clients if c.maintenance]
    inc.quiet = "every affected client is under planned maintenance: " + "; ".join(
        sorted({c.maintenance or "" for c in quiet})) if clients and len(quiet) == len(clients) else None
    inc.assessed_at = now
    inc.updated_at = now
    if inc.alerts and inc.all_resolved and inc.severity == "ok" and not inc.dirty:
        inc.status = "resolved"
        inc.resolved_at = now
        inc.headline = headline(clients, True, config.report.language)
    else:
        inc.status = "assessed"
        inc.headline = headline(clients, False, config.report.language) if inc.alerts and inc.all_resolved \
            else None
