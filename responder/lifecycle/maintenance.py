"""Planned work: windows in which alerts are recorded and assessed but nobody is notified.

Windows come from the inventory (`maintenance:`) and from `responder maintenance add` (kept in
Redis). A window names one client or one server. A client window silences that client only, never
its neighbours on the same server; a server window covers a client when every server that client
fails on (or, if nothing fails, every alerting server touching it) is under planned work.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta

from pydantic import BaseModel

from responder.config import Config
from responder.model.alert import utcnow
from responder.store import Store


class Window(BaseModel):
    id: str
    client: str | None = None
    server: str | None = None
    starts: datetime
    ends: datetime
    reason: str = ""
    origin: str = "cli"  # "cli" (in Redis) or "inventory"

    def active(self, now: datetime) -> bool:
        return self.starts <= now < self.ends

    def describe(self) -> str:
        what = f"client {self.client}" if self.client else f"server {self.server}"
        reason = f"{self.reason}, " if self.reason else ""
        return f"maintenance {self.id} on {what}: {reason}until {self.ends:%Y-%m-%d %H:%M} UTC"


def from_inventory(config: Config) -> list[Window]:
    return [Window(id=f"inv-{i + 1}", client=w.client, server=w.server, starts=w.starts, ends=w.ends,
                   reason=w.reason, origin="inventory")
            for i, w in enumerate(config.inventory.maintenance)]


def stored(store: Store) -> list[Window]:
    return sorted((Window.model_validate_json(v) for v in store.maintenance_windows()), key=lambda w: w.starts)


def windows(store: Store | None, config: Config) -> list[Window]:
    return from_inventory(config) + (stored(store) if store is not None else [])


def add(store: Store, config: Config, *, client: str | None, server: str | None, duration: float,
        reason: str = "", starts: datetime | None = None) -> Window:
    """Open a window now (or at `starts`) for `duration` seconds; the names must be in the inventory."""
    if (client is None) == (server is None):
        raise ValueError("name exactly one of --client or --server")
    if client is not None and client not in config.inventory.clients:
        raise ValueError(f"unknown client {client!r}")
    if server is not None:
        name = config.inventory.server_for(server)
        if name is None:
            raise ValueError(f"unknown server {server!r}")
        server = name
    if duration <= 0:
        raise ValueError("the window must last longer than 0s")
    begin = starts or utcnow()
    window = Window(id=f"m-{secrets.token_hex(3)}", client=client, server=server, starts=begin,
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
        if w.client == client:
            return w
    relevant = set(servers)
    if not relevant:
        return None
    by_server = {w.server: w for w in active if w.server}
    if relevant <= set(by_server):
        return by_server[sorted(relevant)[0]]
    return None
