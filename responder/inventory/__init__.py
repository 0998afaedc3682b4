"""Clients, servers and services, and the host index that maps an alert's host to them.

A server may carry many clients and a client many servers. Every lookup is a dict hit, so mapping
an alert costs the same at ten servers as at ten thousand.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, ValidationError

from responder.errors import ConfigError, pydantic_problems
from responder.inventory.models import (
    Client,
    ClientService,
    Contacts,
    Expect,
    HostMatch,
    MaintenanceWindow,
    Server,
    ServerSsh,
    ServiceSpec,
    Target,
    _Model,
)

__all__ = [
    "Client", "ClientService", "Contacts", "Expect", "HostMatch", "Inventory", "MaintenanceWindow", "Server",
    "ServerSsh", "ServiceSpec", "Target", "host_candidates", "load_inventory_data", "make_target",
]


_OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_QUAD = re.compile(rf"{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}")


def _ip(text: str) -> str | None:
    """The canonical form of an IP address, or None when the text is not one."""
    if not text or not (text[0].isdigit() or ":" in text):
        return None  # cheap exit: names are the common case, and a failed parse costs an exception
    if _QUAD.fullmatch(text):
        return text  # a dotted quad is already canonical: skip ipaddress on 10,000s of servers
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def host_candidates(host: str) -> list[str]:
    """The keys one alert host may match, most specific first.

    `web-01`, `web-01:9100`, `10.0.0.1:9100`, `[2001:db8::1]:9100`, `https://web-01/health` and
    `web-01.dc1.example.net` (a short-name fallback) are all understood.
    """
    text = host.strip().lower().rstrip(".")
    if not text:
        return []
    out = [text]
    if "://" in text:
        try:
            parsed = urlsplit(text)
            name = parsed.hostname or ""
        except ValueError:
            name = ""
        if name:
            out.append(name)
        text = name
    elif text.startswith("["):
        inner, _, _rest = text[1:].partition("]")
        out.append(inner)
        text = inner
    elif text.count(":") == 1:
        name, _, port = text.partition(":")
        if port.isdigit():
            out.append(name)
            text = name
    ip = _ip(text)
    if ip:
        out.append(ip)
    elif "." in text:
        out.append(text.split(".", 1)[0])
    seen: set[str] = set()
    return [c for c in out if c and not (c in seen or seen.add(c))]  # type: ignore[func-returns-value]


class _Index:
    """Host keys → server, short names, clients per server, dependents, each client's resolved services."""

    __slots__ = ("clients_on", "dependents", "hosts", "resolved", "short")

    def __init__(self) -> None:
        self.hosts: dict[str, str] = {}
        self.short: dict[str, str | None] = {}
        self.clients_on: dict[str, tuple[str, ...]] = {}
        self.dependents: dict[str, tuple[str, ...]] = {}
        self.resolved: dict[str, dict[str, ServiceSpec]] = {}  # shared between clients alike: read only


class Inventory(_Model):
    services: dict[str, ServiceSpec] = Field(default_factory=dict)
    servers: dict[str, Server] = Field(default_factory=dict)
    clients: dict[str, Client] = Field(default_factory=dict)
    maintenance: list[MaintenanceWindow] = Field(default_factory=list)

    @cached_property
    def _ix(self) -> _Index:
        """The index, in the instance's own __dict__: a pydantic private attribute costs microseconds
        per read, which a lookup per alert cannot afford. Built (and checked) by model_post_init."""
        return _Index()

    def model_post_init(self, __context: Any) -> None:
        ix = self._ix
        problems = self._check_references(ix)
        problems += self._build_host_index(ix)
        if problems:
            raise ConfigError(problems)
        on: dict[str, list[str]] = {}
        dep: dict[str, list[str]] = {}
        for cname, client in self.clients.items():
            for s in client.servers:
                on.setdefault(s, []).append(cname)
            for s in client.depends_on:
                dep.setdefault(s, []).append(cname)
        ix.clients_on = {k: tuple(v) for k, v in on.items()}
        ix.dependents = {k: tuple(v) for k, v in dep.items()}
        self._share(ix)

    def _share(self, ix: _Index) -> None:
        """One copy of what thousands of entries hold alike: the inventory lives in serve and in every
        worker, so each saved byte counts three times or more in an outage (~3.4 MB a process at
        10,000 servers). Frozen models make it safe: nothing here is ever changed in place."""
        sets: dict[frozenset[str], set[str]] = {}
        for model in (*self.clients.values(), *self.servers.values()):
            fields = model.__pydantic_fields_set__  # which fields the YAML set: a set per instance
            shared = sets.setdefault(frozenset(fields), fields)
            if shared is not fields:
                object.__setattr__(model, "__pydantic_fields_set__", shared)
        names = {name: name for name in self.servers}
        for client in self.clients.values():
            client.servers[:] = [names.get(s, s) for s in client.servers]  # the server's own name string
        specs: dict[tuple[tuple[str, int], ...], dict[str, ServiceSpec]] = {}
        for cname, resolved in ix.resolved.items():  # most clients resolve to the catalogue's specs
            ix.resolved[cname] = specs.setdefault(tuple((n, id(v)) for n, v in resolved.items()), resolved)

    # -- validation -------------------------------------------------------------------------------

    def _check_references(self, ix: _Index) -> list[str]:
        problems: list[str] = []
        # one copy of a catalogue spec per min_healthy value, shared by every client naming it as it is
        with_minimum: dict[tuple[str, int], ServiceSpec] = {}
        for cname, client in self.clients.items():
            listed: set[str] = set()
            for i, s in enumerate(client.servers):
                if s not in self.servers:
                    problems.append(f"clients.{cname}.servers[{i}]: unknown server {s!r}")
                elif s in listed:
                    problems.append(f"clients.{cname}.servers[{i}]: server {s!r} is listed twice")
                listed.add(s)
            for i, s in enumerate(client.depends_on):
                if s not in self.servers:
                    problems.append(f"clients.{cname}.depends_on[{i}]: unknown server {s!r}")
            resolved: dict[str, ServiceSpec] = {}
            for i, svc in enumerate(client.services):
                where = f"clients.{cname}.services[{i}]"
                if svc.name in resolved:
                    problems.append(f"{where}: service {svc.name!r} is listed twice")
                    continue
                base = self.services.get(svc.name)
                if base is None and svc.url is None:
                    problems.append(f"{where}: unknown service {svc.name!r} (not in the catalogue and no url)")
                    continue
                minimum, origin = _min_healthy(cname, client, where, svc, base)
                if origin and minimum > len(client.servers):
                    problems.append(f"{origin}: min_healthy {minimum} is more than the "
                                    f"{len(client.servers)} servers of client {cname!r}")
                    continue
                if base is not None and svc.url is None and svc.expect is None and svc.verify_tls is None:
                    # the catalogue's, already validated: share it (10,000s of clients name the catalogue)
                    shared = base if base.min_healthy == minimum else with_minimum.get((svc.name, minimum))
                    if shared is None:
                        shared = with_minimum[svc.name, minimum] = base.model_copy(update={"min_healthy": minimum})
                    resolved[svc.name] = shared
                    continue
                try:
                    spec = ServiceSpec(
                        url=svc.url or (base.url if base else ""),
                        expect=svc.expect or (base.expect if base else Expect()),
                        verify_tls=svc.verify_tls if svc.verify_tls is not None else (
                            base.verify_tls if base else True),
                        min_healthy=minimum,
                    )
                except ValidationError as exc:
                    problems += pydantic_problems(exc, prefix=where)
                    continue
                resolved[svc.name] = spec
            ix.resolved[cname] = resolved
        for i, window in enumerate(self.maintenance):
            where = f"maintenance[{i}]"
            if (window.server is None) == (window.client is None and window.service is None):
                problems.append(f"{where}: name a client, a service (optionally with its client) or a server")
            if window.client is not None and window.client not in self.clients:
                problems.append(f"{where}.client: unknown client {window.client!r}")
            elif window.service is not None and not (
                    window.service in ix.resolved.get(window.client, {}) if window.client
                    else any(window.service in r for r in ix.resolved.values())):
                problems.append(f"{where}.service: no client has service {window.service!r}"
                                if window.client is None else
                                f"{where}.service: client {window.client!r} has no service {window.service!r}")
            if window.server is not None and window.server not in self.servers:
                problems.append(f"{where}.server: unknown server {window.server!r}")
            if window.ends <= window.starts:
                problems.append(f"{where}.to: ends before it starts")
        return problems

    def _build_host_index(self, ix: _Index) -> list[str]:
        problems: list[str] = []
        hosts: dict[str, str] = {}

        def claim(key: str, server: str, where: str) -> None:
            owner = hosts.get(key)
            if owner is not None and owner != server:
                problems.append(f"{where}: {key!r} already names server {owner!r}")
            hosts[key] = server

        for name in self.servers:
            claim(name.lower(), name, f"servers.{name}")
        for name, server in self.servers.items():
            addr = server.address.lower()
            claim(_ip(addr) or addr, name, f"servers.{name}.address")
            for i, alias in enumerate(server.aliases):
                a = alias.strip().lower().rstrip(".")
                claim(_ip(a) or a, name, f"servers.{name}.aliases[{i}]")
        short: dict[str, str | None] = {}
        for key, owner in hosts.items():
            if "." in key and not _ip(key):
                s = key.split(".", 1)[0]
                if s not in hosts:
                    short[s] = owner if short.get(s, owner) == owner else None
        ix.hosts = hosts
        ix.short = short
        return problems

    # -- lookups ----------------------------------------------------------------------------------

    def server_for(self, host: str) -> str | None:
        """The server an alert host names, or None when nothing in the inventory matches."""
        # the common forms first, in host_candidates' order: `name` and `name:port` are one or two dict hits
        text = host.strip().lower().rstrip(".")
        found = self._ix.hosts.get(text)
        if found is not None:
            return found
        name, colon, port = text.partition(":")
        if colon and port.isdigit() and "[" not in name:
            found = self._ix.hosts.get(name)
            if found is not None:
                return found
        return self._server_for_any(host)

    def _server_for_any(self, host: str) -> str | None:
        for key in host_candidates(host):
            found = self._ix.hosts.get(key)
            if found is not None:
                return found
        for key in host_candidates(host):
            found = self._ix.short.get(key)
            if found is not None:
                return found
        return None

    def clients_on(self, server: str) -> tuple[str, ...]:
        """Clients whose services run on the server."""
        return self._ix.clients_on.get(server, ())

    def clients_by_server(self) -> Mapping[str, tuple[str, ...]]:
        """The whole index behind `clients_on`, for loops over thousands of servers (one attribute
        look-up instead of one per server)."""
        return self._ix.clients_on

    def dependents_by_server(self) -> Mapping[str, tuple[str, ...]]:
        """The whole index behind `dependents_of`."""
        return self._ix.dependents

    def dependents_of(self, server: str) -> tuple[str, ...]:
        """Clients that name the server in `depends_on` (infrastructure they need)."""
        return self._ix.dependents.get(server, ())

    def affected_by(self, server: str) -> tuple[str, ...]:
        """Clients an alert on this server touches: those on it, and those that depend on it."""
        on = self._ix.clients_on.get(server, ())
        dep = self._ix.dependents.get(server, ())
        return on + tuple(c for c in dep if c not in on) if dep else on

    def lookup(self, host: str) -> HostMatch:
        server = self.server_for(host)
        return HostMatch(host=host, server=server, clients=self.affected_by(server) if server else ())

    def services_of(self, client: str) -> Mapping[str, ServiceSpec]:
        return self._ix.resolved.get(client, {})

    def min_healthy(self, client: str, service: str) -> int:
        """How many of the client's servers must pass the service (see `_min_healthy`); 1 if unknown."""
        spec = self._ix.resolved.get(client, {}).get(service)
        return (spec.min_healthy or 1) if spec is not None else 1

    def clients_with_service(self, service: str) -> list[str]:
        return [c for c in self.clients if service in self._ix.resolved.get(c, {})]

    def targets(self, client: str, servers: Iterable[str] | None = None,
                services: Iterable[str] | None = None) -> list[Target]:
        """Every check for the client: each service on each server (or the subsets given)."""
        c = self.clients[client]
        wanted = set(services) if services is not None else None
        only = set(servers) if servers is not None else None
        out = []
        for sname, spec in self._ix.resolved.get(client, {}).items():
            if wanted is not None and sname not in wanted:
                continue
            for server in c.servers:
                if only is not None and server not in only:
                    continue
                out.append(make_target(client, sname, spec, server, self.servers[server]))
        return out


def _min_healthy(cname: str, client: Client, where: str, svc: ClientService,
                 base: ServiceSpec | None) -> tuple[int, str | None]:
    """The most specific `min_healthy` wins: the client's own service entry, then the client, then the
    catalogue service, then 1. The key path it came from is returned too (None for the default), so a
    value larger than the client's server count is reported where it was written."""
    if svc.min_healthy is not None:
        return svc.min_healthy, f"{where}.min_healthy"
    if client.min_healthy is not None:
        return client.min_healthy, f"clients.{cname}.min_healthy"
    if base is not None and base.min_healthy is not None:
        return base.min_healthy, f"{where} (services.{svc.name}.min_healthy)"
    return 1, None


def _bracket(address: str) -> str:
    return f"[{address}]" if ":" in address else address


def make_target(client: str, service: str, spec: ServiceSpec, name: str, server: Server) -> Target:
    """Fill in the URL for one server: `{address}` in the URL, or connect to the address and keep the
    URL's own host as Host and TLS SNI (what `curl --resolve` does)."""
    addr = _bracket(server.address)
    if "{address}" in spec.url or "{server}" in spec.url:
        url = spec.url.replace("{address}", addr).replace("{server}", name)
        return Target(client, service, name, url, url, None, None, spec.expect, spec.verify_tls)
    parts = urlsplit(spec.url)
    host = parts.hostname or ""
    netloc = addr + (f":{parts.port}" if parts.port else "")
    connect = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    host_header = host + (f":{parts.port}" if parts.port else "")
    sni = host if parts.scheme == "https" and not _ip(host) else None
    return Target(client, service, name, spec.url, connect, host_header, sni, spec.expect, spec.verify_tls)


def load_inventory_data(data: Any, source: str | None = None) -> Inventory:
    """Validate an inventory mapping; every problem in one ConfigError, each with its key path."""
    if not isinstance(data, dict):
        raise ConfigError(["the inventory must be a mapping with services, servers and clients"], source)
    data = {k: ({} if v is None and k != "maintenance" else v) for k, v in data.items()}
    try:
        return Inventory.model_validate(data)
    except ConfigError as exc:
        raise ConfigError(exc.problems, source) from None
    except ValidationError as exc:
        raise ConfigError(pydantic_problems(exc), source) from None


