"""One client's part of an incident, chosen from the data before anything is rendered.

A client's contacts may see their own verdict, the alerts on the servers they run on or depend on,
and nothing that names another client: not their verdicts, not alerts on servers they do not use, not
hosts outside the inventory, not the incident-wide headline. The page behind a signed link, the
email and every chat message draw from the incident this returns, so what a contact sees is decided
here once and never by scanning rendered text.
"""

from __future__ import annotations

import re

from responder.inventory import Inventory
from responder.model.incident import Incident

_TOKEN = re.compile(r"[\w.-]*\w")


def _names(inventory: Inventory, servers: set[str]) -> set[str]:
    """Every way a note may name these servers: their names, aliases and addresses."""
    out: set[str] = set()
    for name in servers:
        server = inventory.servers.get(name)
        out.add(name)
        if server is not None:
            out.add(server.address)
            out.update(server.aliases)
    return out


def _note_is_theirs(note: str, own: set[str], foreign: set[str]) -> bool:
    """A note (an acknowledgement, a downtime, a sender's warning) is shown when it names one of the
    client's servers and nothing of anybody else's; a note that names no server is incident-wide."""
    words = set(_TOKEN.findall(note))
    return bool(words & own) and not words & foreign


def scope(incident: Incident, client: str, inventory: Inventory) -> Incident:
    """A new incident holding only what `client`'s contacts may see (the original is not changed).

    Kept: the client's verdict; alerts on its servers or the servers it depends on; the notes that
    name those servers and no other; the notifications sent to its contacts. Dropped: other clients,
    unmapped hosts, the count of alerts a sender left out, and the headline unless it is the
    incident's recovery (that one names nobody). Severity becomes the client's."""
    found = inventory.clients.get(client)
    allowed = set(found.servers) | set(found.depends_on) if found else set()
    verdicts = [c.model_copy(deep=True) for c in incident.clients if c.client == client]
    alerts = [a for a in incident.alerts if a.server is not None and a.server in allowed]
    others = {c.client for c in incident.clients} | set(incident.affected) | set(inventory.clients)
    others.discard(client)
    own = _names(inventory, allowed)
    foreign = (_names(inventory, set(inventory.servers) - allowed) - own) | others
    for host in [*incident.unmapped_hosts, *(a.host for a in incident.alerts if a.server not in allowed)]:
        foreign |= {w for w in _TOKEN.findall(host) if not w.isdigit()} - own  # "db-99:9100": db-99
    mine = verdicts[0] if verdicts else None
    return incident.model_copy(update={
        "severity": mine.severity if mine else None,
        "clients": verdicts,
        "affected": [client] if client in incident.affected else [],
        "alerts": [a.model_copy() for a in alerts],
        "unmapped_hosts": [],
        "notes": [n for n in incident.notes if _note_is_theirs(n, own, foreign)],
        "notifications": [n.model_copy() for n in incident.notifications if n.client == client],
        "truncated": 0,
        "headline": incident.headline if incident.status == "resolved" else None,
        "quiet": mine.maintenance if incident.quiet and mine else None,
    })
