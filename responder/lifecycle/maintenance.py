"""Planned work: windows in which alerts are recorded and assessed but nobody is notified.

Windows come from the inventory (`maintenance:`) and from `responder maintenance add` (kept in
Redis). A window names one client, one server, or one service (on every client that has it, or on
one client). A client window silences that client only, never its neighbours on the same server; a
server window covers a client when every server that client fails on (or, if nothing fails, every
alerting server touching it) is under planned work; service windows cover a client when every
service of it that fails or is slow (or, if none does, every service it has in the verdict) is under
planned work, so a failure elsewhere in the client is still news. A client is silenced by one kind
at a time: its client window, server windows over all its failing servers, or service windows over
all its failing services (a mix of server and service windows does not add up).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from pydantic import BaseModel

from responder.config import Config
from responder.model.alert import utcnow
from responder.model.verdict import ClientVerdict

if TYPE_CHECKING:  # the store only as a type: `check` and `replay` settle without redis imported
    from responder.store import Store


class Window(BaseModel):
    id: str
    client: str | None = None
    server: str | None = None
    service: str | None = None  # with `client`: that client's service only; alone: on every client
    starts: datetime
    ends: datetime
    reason: str = ""
    origin: str = "cli"  # "cli" (in Redis) or "inventory"

    def active(self, now: datetime) -> bool:
        return self.starts <= now < self.ends

    def applies_to(self, client: str) -> bool:
        """A client or service window that names this client, or a service window on every client."""
        return self.server is None and self.client in (client, None)

    def target(self) -> str:
        if self.service:
            return f"service {self.service} of {self.client}" if self.client else \
                f"service {self.service} on every client"
        return f"client {self.client}" if self.client else f"server {self.server}"

    def describe(self) -> str:
        what = self.target()
        reason = f"{self.reason}, " if self.reason else ""
        return f"maintenance {self.id} on {what}: {reason}until {self.ends:%Y-%m-%d %H:%M} UTC"


def from_inventory(config: Config) -> list[Window]:
    return [Window(id=f"inv-{i + 1}", client=w.client, server=w.server, service=w.service, starts=w.starts,
                   ends=w.ends, reason=w.reason, origin="inventory")
            for i, w in enumerate(config.inventory.maintenance)]


def stored(store: Store) -> list[Window]:
    return sorted((Window.model_validate_json(v) for v in store.maintenance_windows()), key=lambda w: w.starts)


def windows(store: Store | None, config: Config) -> list[Window]:
    return from_inventory(config) + (stored(store) if store is not None else [])


def add(store: Store, config: Config, *, client: str | None, server: str | None, duration: float,
        reason: str = "", starts: datetime | None = None, service: str | None = None) -> Window:
    """Open a window now (or at `starts`) for `duration` seconds; the names must be in the inventory."""
    inv = config.inventory
    if (server is None) == (client is None and service is None):
        raise ValueError("name --client C, --server S or --service S (with --client C for one client)")
    if client is not None and client not in inv.clients:
        raise ValueError(f"unknown client {client!r}")
    if service is not None and client is not None and service not in inv.services_of(client):
        raise ValueError(f"client {client!r} has no service {service!r}")
    if service is not None and client is None and not inv.clients_with_service(service):
        raise ValueError(f"no client has service {service!r}")
    if server is not None:
        name = config.inventory.server_for(server)
        if name is None:
            raise ValueError(f"unknown server {server!r}")
        server = name
    if duration <= 0:
        raise ValueError("the window must last longer than 0s")
    begin = starts or utcnow()
    window = Window(id=f"m-{secrets.token_hex(3)}", client=client, server=server, service=service, starts=begin,
                    ends=begin + timedelta(seconds=duration), reason=reason)
    store.put_maintenance_window(window.id, window.model_dump_json())
    return window


def end(store: Store, window_id: str) -> Window:
    raw = store.maintenance_window(window_id)
    if raw is None:
        raise LookupError(f"no maintenance window {window_id!r} (inventory windows end by editing the inventory)")
    window = Window.model_validate_json(raw)
    now = utcnow()
    window.ends = min(window.ends, now)
    store.put_maintenance_window(window.id, window.model_dump_json())
    return window


def clients_of(window: Window, config: Config) -> list[str]:
    """The clients a window can silence: its client, or every client on (or depending on) its server."""
    if window.client is not None:
        return [window.client]
    return list(config.inventory.affected_by(window.server)) if window.server else []


def covering(active: Iterable[Window], client: str, servers: Iterable[str]) -> Window | None:
    """The window that explains this client's trouble, if any (see the module docstring)."""
    active = list(active)
    for w in active:
        if w.client == client and w.service is None:
            return w
    relevant = set(servers)
    if not relevant:
        return None
    by_server = {w.server: w for w in active if w.server}
    if relevant <= set(by_server):
        return by_server[sorted(relevant)[0]]
    return None


def covering_services(active: Iterable[Window], verdict: ClientVerdict) -> Window | None:
    """The service window that explains this client's trouble, if every service in trouble has one
    (see the module docstring); the first such service's window, by name."""
    by_service: dict[str, Window] = {}
    for w in active:
        if w.service is not None and w.applies_to(verdict.client):
            by_service.setdefault(w.service, w)
    if not by_service:
        return None
    touched = [s.service for s in verdict.services if s.severity != "ok" or s.servers_failing or s.servers_slow] \
        or [s.service for s in verdict.services]
    if touched and all(s in by_service for s in touched):
        return by_service[sorted(touched)[0]]
    return None
