"""What taking servers down would do, from the inventory alone: no probes, no store.

A server that goes down is counted as failing every service of every client on it, exactly as the
judge (workers/assess/judge.py) would see it, so the severity here is the one an assessment would
reach if nothing else broke:

critical  fewer than `min_healthy` of the client's servers are left, or a server the client
          `depends_on` goes down (infrastructure is a single point: the inventory does not say that
          two balancers stand in for each other, so each one named is needed)
degraded  some servers go, at least `threshold` percent of the client's (the judge's rule)
ok        a loss below the threshold

Only clients with services are listed: a client with nothing to check has nothing to lose. Every
service of a listed client is listed, because each service runs on every server of its client.
Cost: one pass over the clients on the given servers (the inventory indexes clients by server).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from responder.inventory import Inventory
from responder.model.verdict import Severity, worst, worst_first


class UnknownHost(ValueError):
    """A host the inventory does not know."""


@dataclass(frozen=True, slots=True)
class ServiceImpact:
    service: str
    severity: Severity
    servers_total: int
    servers_left: int
    min_healthy: int


@dataclass(frozen=True, slots=True)
class ClientImpact:
    client: str
    severity: Severity
    services: tuple[ServiceImpact, ...]
    servers_down: tuple[str, ...]  # its own servers that go
    depends_on_down: tuple[str, ...]  # infrastructure it needs that goes

    def as_json(self) -> dict[str, Any]:
        return {"client": self.client, "severity": self.severity,
                "services": [{"service": s.service, "severity": s.severity, "servers_total": s.servers_total,
                              "servers_left": s.servers_left, "min_healthy": s.min_healthy}
                             for s in self.services],
                "depends_on_down": list(self.depends_on_down)}


@dataclass(frozen=True, slots=True)
class Impact:
    servers: tuple[str, ...]
    clients: tuple[ClientImpact, ...]  # worst first, then by name

    @property
    def critical(self) -> bool:
        return any(c.severity == "critical" for c in self.clients)

    def as_json(self) -> dict[str, Any]:
        return {"clients": [c.as_json() for c in self.clients]}


def resolve_hosts(inv: Inventory, hosts: Iterable[str]) -> list[str]:
    """Server names for hosts given as a name, alias, address or host:port; each once, in order."""
    names: list[str] = []
    for host in hosts:
        name = inv.server_for(host)
        if name is None:
            raise UnknownHost(f"unknown host {host!r} (not a server name, alias or address in the inventory)")
        names.append(name)
    return list(dict.fromkeys(names))


def service_severity(total: int, left: int, min_healthy: int, threshold: float) -> Severity:
    """The judge's rule for a service whose lost servers all fail and the rest pass."""
    lost = total - left
    if left < min_healthy:
        return "critical"
    if lost and 100.0 * lost / total >= threshold:
        return "degraded"
    return "ok"


def impact(inv: Inventory, servers: Iterable[str], threshold: float = 0.0) -> Impact:
    """The clients that would lose servers (or infrastructure) if these server names went down."""
    down = tuple(dict.fromkeys(servers))
    own: dict[str, list[str]] = {}
    needed: dict[str, list[str]] = {}
    on, needed_by = inv.clients_by_server(), inv.dependents_by_server()
    for server in down:
        for c in on.get(server, ()):
            own.setdefault(c, []).append(server)
        for c in needed_by.get(server, ()):
            needed.setdefault(c, []).append(server)
    out: list[ClientImpact] = []
    for cname in dict.fromkeys([*own, *needed]):
        services = inv.services_of(cname)
        if not services:
            continue
        total = len(inv.clients[cname].servers)
        lost = own.get(cname, [])
        dep = tuple(needed.get(cname, ()))
        left = total - len(lost)
        per = [ServiceImpact(s, "critical" if dep else service_severity(total, left, m, threshold), total, left, m)
               for s in services for m in (inv.min_healthy(cname, s),)]
        per.sort(key=lambda v: (worst_first(v.severity), v.service))
        out.append(ClientImpact(cname, worst(v.severity for v in per), tuple(per), tuple(lost), dep))
    out.sort(key=lambda c: (worst_first(c.severity), c.client))
    return Impact(down, tuple(out))
