"""Who hears about an incident: the recipients of each scope, from the config and the inventory.

Routes pick channels by severity: the incident's for the NOC (the config's own `email.to` and chat
channels, who see the whole incident), each client's for that client's contacts (who see that client's
part only). A channel that carried news of an incident to a scope also carries its recovery, whatever
the routes say for `ok`. A client's contacts are never planned while the client is inside a window.
Which scopes hear about a given state is decided upstream (responder/lifecycle/tell.py); without that
decision (`check --notify`, `replay --notify`) a client's contacts hear of it while it is not ok or changed.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from responder.config import Config
from responder.model.incident import NOC, Incident
from responder.model.verdict import ClientVerdict
from workers.notify.channels import email, slack, teams, telegram
from workers.notify.channels.base import Channel, Recipient

CHANNELS: dict[str, Channel] = {"email": email, "teams": teams, "slack": slack, "telegram": telegram}


def sent_before(incident: Incident, client: str | None) -> list[str]:
    """Channels that already carried this incident to these recipients (the whole, or one client's)."""
    return list(dict.fromkeys(n.channel for n in incident.notifications
                              if n.client == client and n.status in ("sent", "unknown")))


def _channels(routed: Sequence[str], before: Sequence[str]) -> list[str]:
    return list(dict.fromkeys([*routed, *before]))


def _concerns(incident: Incident, c: ClientVerdict) -> bool:
    """Without a decision upstream: whether the client's contacts should hear about this state."""
    if c.maintenance:
        return False
    return c.severity != "ok" or bool(c.changes) or bool(sent_before(incident, c.client))


def plan(config: Config, incident: Incident, scopes: Collection[str] | None = None) -> list[Recipient]:
    """Every recipient of the given scopes (NOC for the whole incident, or client names), each at most
    once; `scopes=None`: every scope the current state concerns."""
    out: list[Recipient] = []
    if scopes is None or NOC in scopes:
        for name in _channels(config.routes.for_severity(incident.severity or "ok"), sent_before(incident, None)):
            if name in CHANNELS:
                out += CHANNELS[name].recipients(config, None)
    for c in incident.clients:
        if c.maintenance or (scopes is None and not _concerns(incident, c)) or \
                (scopes is not None and c.client not in scopes):
            continue
        for name in _channels(config.routes.for_severity(c.severity), sent_before(incident, c.client)):
            if name in CHANNELS:
                out += CHANNELS[name].recipients(config, c.client)
    seen: set[tuple[str, str]] = set()
    unique = []
    for d in out:  # the whole incident first: a contact that is also a config recipient gets the whole
        if d.key not in seen:
            seen.add(d.key)
            unique.append(d)
    return unique
