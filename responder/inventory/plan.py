"""Rolling-update batches that never take a client's service below its `min_healthy`.

The only constraint is `min_healthy`: a batch may take a service below the degraded threshold (an
update is planned redundancy loss), never into critical. A server in a batch is down for every client
on it, not just for the service being updated.

Each client with services allows at most `allowed = servers - max(min_healthy of its services)` of
its servers down at once (every service runs on every server of its client): a capacity on each
batch, not only a pairwise conflict. A server is *blocked*, and placed in no batch, when going down
alone is already an outage (see impact.py): a client's only server, a client whose `min_healthy`
leaves no spare server, or infrastructure a client `depends_on`.

Fewest batches is a capacitated hypergraph colouring (NP-hard), so this is a greedy:
1. DSatur with capacities: next the server shut out of the most batches so far (ties: the one whose
   clients have the least room), into the first batch it fits; when the work that costs
   (servers x batches each client needs) would be large, plain first fit in the same tie order;
2. then Culberson's iterated greedy: first fit again, taking the previous batches one whole batch at
   a time (largest first, then the reverse order). A former batch fits into the existing ones or
   opens at most one new batch, so a pass never adds batches; passes stop at the lower bound or
   after two that bring nothing.
Lower bound: max over clients of ceil(its placeable servers in scope / allowed). The answer carries
it (`lower_bound`), so a reader sees how far from proven-best a plan is. On random shared-hosting
inventories (10,000 servers, 5,000 clients of 1-6 servers) the plan meets the bound; where many
small clients overlap densely the bound is weak (it ignores overlaps) and plans come out one or two
batches above it. Cost: near-linear in the servers and client memberships in scope.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from responder.inventory import Inventory

PASSES = 8  # iterated-greedy passes at most; each one is linear
DSATUR_BUDGET = 300_000  # sum over clients of servers x batches needed; beyond it, first fit alone


@dataclass(frozen=True, slots=True)
class Blocked:
    server: str
    client: str
    why: str


@dataclass(frozen=True, slots=True)
class Plan:
    batches: tuple[tuple[str, ...], ...]
    blocked: tuple[Blocked, ...]
    lower_bound: int

    def as_json(self) -> dict[str, Any]:
        return {"batches": [list(b) for b in self.batches],
                "blocked": [{"server": b.server, "client": b.client, "why": b.why} for b in self.blocked],
                "lower_bound": self.lower_bound}


def allowed_down(inv: Inventory, client: str) -> int | None:
    """How many of the client's servers may be down at once; None when it has no services (or no
    servers), so nothing of it limits a batch."""
    services = inv.services_of(client)
    if not services or not inv.clients[client].servers:
        return None
    return len(inv.clients[client].servers) - max(inv.min_healthy(client, s) for s in services)


def scope(inv: Inventory, *, servers: Sequence[str] = (), service: str | None = None,
          client: str | None = None) -> list[str]:
    """The servers to update: the names given, every server of a client with the service, or one
    client's servers. Raises ValueError for a name the inventory does not know."""
    if service is not None:
        clients = inv.clients_with_service(service)
        if not clients:
            raise ValueError(f"no client has service {service!r}")
        return list(dict.fromkeys(s for c in clients for s in inv.clients[c].servers))
    if client is not None:
        if client not in inv.clients:
            raise ValueError(f"unknown client {client!r}")
        return list(inv.clients[client].servers)
    return list(dict.fromkeys(servers))


class _Room:
    """Each client's `allowed_down`, worked out once, and the inventory's server indexes."""

    def __init__(self, inv: Inventory) -> None:
        self.inv = inv
        self.on = inv.clients_by_server()
        self.needed_by = inv.dependents_by_server()
        self._allowed: dict[str, int | None] = {}

    def allowed(self, client: str) -> int | None:
        if client not in self._allowed:
            self._allowed[client] = allowed_down(self.inv, client)
        return self._allowed[client]

    def blocked(self, server: str) -> list[Blocked]:
        """Every client for which this server going down alone is critical."""
        out: list[Blocked] = []
        on = self.on.get(server, ())
        for c in on:
            allowed = self.allowed(c)
            if allowed is not None and allowed < 1:
                n = len(self.inv.clients[c].servers)
                why = f"the only server of {c}" if n == 1 else \
                    f"{c} needs all {n} of its servers up (min_healthy {n - allowed})"
                out.append(Blocked(server, c, why))
        for c in self.needed_by.get(server, ()):
            if self.inv.services_of(c) and not any(b.client == c for b in out):
                out.append(Blocked(server, c, f"{c} depends on it (depends_on): a single point"))
        return out


def why_blocked(inv: Inventory, server: str) -> list[Blocked]:
    """Every client for which this server going down alone is critical."""
    return _Room(inv).blocked(server)


def plan(inv: Inventory, servers: Iterable[str], dsatur_budget: int = DSATUR_BUDGET) -> Plan:
    """Batches for these server names (see the module docstring)."""
    room = _Room(inv)
    wanted = list(dict.fromkeys(servers))
    blocked = [b for s in wanted for b in room.blocked(s)]
    stuck = {b.server for b in blocked}
    placeable = [s for s in wanted if s not in stuck]
    cap: dict[str, int] = {}
    in_scope: dict[str, int] = {}
    limits: dict[str, tuple[str, ...]] = {}
    for s in placeable:
        mine = []
        for c in room.on.get(s, ()):
            allowed = room.allowed(c)
            if allowed is None:
                continue
            cap[c] = allowed
            in_scope[c] = in_scope.get(c, 0) + 1
            mine.append(c)
        limits[s] = tuple(mine)
    need = {c: -(-n // cap[c]) for c, n in in_scope.items()}
    bound = max(need.values(), default=1 if placeable else 0)
    weight = {s: sum(1.0 / cap[c] for c in limits[s]) for s in placeable}
    if sum(n * need[c] for c, n in in_scope.items()) <= dsatur_budget:
        batches = _dsatur(placeable, limits, cap, weight)
    else:
        batches = _first_fit(sorted(placeable, key=lambda s: (-weight[s], s)), limits, cap)
    idle = 0
    for i in range(PASSES):
        if len(batches) <= bound or idle == 2:
            break
        classes = sorted(batches, key=len, reverse=True) if i % 2 == 0 else list(reversed(batches))
        again = _first_fit([s for b in classes for s in b], limits, cap)
        idle = idle + 1 if len(again) == len(batches) else 0
        batches = again  # never more batches than before (see the module docstring)
    return Plan(tuple(sorted((tuple(sorted(b)) for b in batches), key=lambda b: (-len(b), b))),
                tuple(sorted(blocked, key=lambda b: (b.server, b.client))), bound)


def _dsatur(servers: Sequence[str], limits: dict[str, tuple[str, ...]], cap: dict[str, int],
            weight: dict[str, float]) -> list[list[str]]:
    """DSatur with capacities: next the server shut out of the most batches (ties: the most
    constrained), into the first batch it fits. A batch shuts a server out once one of its clients
    has filled its room there; that event visits the client's servers still to place."""
    members: dict[str, list[str]] = {}
    for s in servers:
        for c in limits[s]:
            members.setdefault(c, []).append(s)
    shut: dict[str, set[int]] = {s: set() for s in servers}
    used: dict[str, dict[int, int]] = {c: {} for c in members}
    heap = [(0, -weight[s], s) for s in servers]
    heapq.heapify(heap)
    batches: list[list[str]] = []
    placed: set[str] = set()
    while heap:
        sat, _w, s = heapq.heappop(heap)
        if s in placed or -sat != len(shut[s]):
            continue  # a stale entry: placed already, or pushed again since
        i = 0
        while i in shut[s]:
            i += 1
        if i == len(batches):
            batches.append([])
        batches[i].append(s)
        placed.add(s)
        for c in limits[s]:
            load = used[c]
            load[i] = load.get(i, 0) + 1
            if load[i] < cap[c]:
                continue
            for other in members[c]:
                if other not in placed and i not in shut[other]:
                    shut[other].add(i)
                    heapq.heappush(heap, (-len(shut[other]), -weight[other], other))
    return batches


def _first_fit(order: Sequence[str], limits: dict[str, tuple[str, ...]], cap: dict[str, int]) -> list[list[str]]:
    """Each server into the first batch where every client on it still has room.

    `first_open[c]` skips the batches a client has filled (they never empty again), so a client
    with many servers and little room costs no scan over the batches it has filled.
    """
    batches: list[list[str]] = []
    used: dict[str, dict[int, int]] = {c: {} for c in cap}
    first_open: dict[str, int] = dict.fromkeys(cap, 0)
    for s in order:
        clients = limits[s]
        i = max((first_open[c] for c in clients), default=0)
        while any(used[c].get(i, 0) >= cap[c] for c in clients):
            i += 1
        if i == len(batches):
            batches.append([])
        batches[i].append(s)
        for c in clients:
            load = used[c]
            load[i] = load.get(i, 0) + 1
            j = first_open[c]
            while load.get(j, 0) >= cap[c]:
                j += 1
            first_open[c] = j
    return batches
