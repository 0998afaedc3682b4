"""What the pages show, as plain data built from an incident: the client × server matrix, the alerts in
reading order, the timeline. Pure functions, so the rules are tested without a browser."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from responder.inventory import Inventory
from responder.model.alert import Alert
from responder.model.incident import Incident
from responder.model.verdict import Check, ClientVerdict

# a cell's state, worst first; "" is a server the client does not run on
CELL_RANK = {"fail": 3, "slow": 2, "ok": 1, "not_checked": 0}
CELL_WORD = {"fail": "failing", "slow": "slow", "ok": "ok", "not_checked": "not checked", "": ""}
CELL_MARK = {"fail": "✕", "slow": "◔", "ok": "✓", "not_checked": "?", "": ""}


def check_result(check: Check) -> str:
    """One check in a few words: `HTTP 503`, `timed out`, `slow, 2400 ms`, `ok, 12 ms`."""
    ms = f"{check.latency_ms:.0f} ms" if check.latency_ms is not None else ""
    if not check.ok:
        return check.error or (f"HTTP {check.status}" if check.status else "failing")
    if check.slow:
        return f"slow, {ms}" if ms else "slow"
    return f"ok, {ms}" if ms else "ok"


@dataclass
class Cell:
    state: str = ""
    results: list[str] = field(default_factory=list)  # "shop: HTTP 503"

    @property
    def title(self) -> str:
        return "; ".join(self.results)

    @property
    def word(self) -> str:
        return CELL_WORD[self.state]

    @property
    def mark(self) -> str:
        return CELL_MARK[self.state]


@dataclass
class Row:
    client: str
    severity: str
    cells: list[Cell]


@dataclass
class Matrix:
    servers: list[str]
    rows: list[Row]
    alerting: set[str]
    failing_for: dict[str, int]  # server -> clients it fails for
    servers_total: int = 0  # before the cut to `most_servers` columns
    rows_total: int = 0  # before the cut to `most_rows` rows


# A datacenter outage touches thousands of clients on thousands of servers: its whole matrix was
# 700 MB of HTML. The page shows the common factors (the servers failing for the most clients) and
# the worst clients; the JSON and the CSV keep every check.
MATRIX_SERVERS = 40
MATRIX_ROWS = 200
CLIENT_CARDS = 200


def _cells(verdict: ClientVerdict) -> dict[str, Cell]:
    """The client's cells by server, in one pass over its checks."""
    cells: dict[str, Cell] = {}
    for s in verdict.services:
        for k in s.checks:
            cell = cells.setdefault(k.server, Cell())
            state = "fail" if not k.ok else "slow" if k.slow else "ok"
            cell.results.append(f"{s.service}: {check_result(k)}")
            if CELL_RANK[state] > CELL_RANK.get(cell.state, -1):
                cell.state = state
        for server in s.not_checked:
            cell = cells.setdefault(server, Cell())
            cell.results.append(f"{s.service}: not checked")
            if not cell.state:
                cell.state = "not_checked"
    return cells


def matrix(incident: Incident, most_servers: int = MATRIX_SERVERS, most_rows: int = MATRIX_ROWS) -> Matrix:
    """Rows are clients (worst first), columns servers: those failing for the most clients first, so a
    common factor (one server behind many clients' failures) stands in the first column. At most
    `most_servers` columns (the first ones) and `most_rows` rows (with columns cut, the worst clients
    on the columns shown: a datacenter's worth of clients each on its own servers would be blank)."""
    servers: set[str] = set()
    failing_for: dict[str, int] = {}
    for c in incident.clients:
        mine = {k.server for s in c.services for k in s.checks} | {n for s in c.services for n in s.not_checked}
        servers |= mine
        for server in {k.server for s in c.services for k in s.checks if not k.ok}:
            failing_for[server] = failing_for.get(server, 0) + 1
    alerting = set(incident.alerting_servers)
    order = sorted(servers, key=lambda s: (-failing_for.get(s, 0), s not in alerting, s))[:most_servers]
    rows: list[Row] = []
    for c in incident.clients:  # worst first; when columns were cut, only the clients they show
        if len(rows) == most_rows:
            break
        cells = _cells(c)
        if len(order) < len(servers) and not any(s in cells for s in order):
            continue
        rows.append(Row(c.client, c.severity, [cells.get(s) or Cell() for s in order]))
    return Matrix(order, rows, alerting, failing_for, servers_total=len(servers), rows_total=len(incident.clients))


@dataclass
class AlertRow:
    alert: Alert
    where: str  # "" when the server carries clients; otherwise why this alert touches none


def alert_rows(incident: Incident, inventory: Inventory) -> list[AlertRow]:
    """Firing first, then newest; each marked when its server carries no client (or is unknown)."""
    def when(a: Alert) -> float:
        return (a.starts_at or a.received_at).timestamp()

    ordered = sorted(incident.alerts, key=lambda a: (a.status != "firing", -when(a), a.identity))
    out = []
    for a in ordered:
        if a.server is None:
            where = "not in the inventory"
        elif a.server not in inventory.servers:
            where = "no longer in the inventory"
        elif not inventory.affected_by(a.server):
            where = "no clients on this server"
        else:
            where = ""
        out.append(AlertRow(a, where))
    return out


@dataclass
class Event:
    at: datetime | None
    kind: str  # opened, alert, assessed, message, note, resolved
    text: str
    status: str = ""


_STAMP = re.compile(r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) (.*)$", re.S)


def timeline(incident: Incident, alerts: int = 20) -> list[Event]:
    """What happened, oldest first: opened, the first alerts, assessments, messages, notes, resolved.

    The store keeps the latest assessment only, so earlier ones show through the messages they caused."""
    events = [Event(incident.opened_at, "opened", f"opened by {'check' if incident.kind == 'check' else 'alerts'}")]
    for a in sorted(incident.alerts, key=lambda a: a.received_at)[:alerts]:
        events.append(Event(a.received_at, "alert", f"{a.status}: {a.name} on {a.host or '-'}", a.status))
    if len(incident.alerts) > alerts:
        events.append(Event(None, "alert", f"and {len(incident.alerts) - alerts} more alerts"))
    if incident.assessed_at:
        events.append(Event(incident.assessed_at, "assessed", f"assessed: {incident.severity or 'pending'}",
                            incident.severity or ""))
    for n in incident.notifications:
        who = f"{n.channel} to {n.to}" + (f" ({n.client} only)" if n.client else "")
        events.append(Event(n.at, "message", f"{who}: {n.status}" + (f", {n.error}" if n.error else ""),
                            n.status))
    for note in incident.notes:
        m = _STAMP.match(note)
        at = datetime.fromisoformat(m.group(1) + "+00:00") if m else None
        events.append(Event(at, "note", m.group(2) if m else note))
    if incident.resolved_at:
        events.append(Event(incident.resolved_at, "resolved", "resolved", "ok"))
    dated = sorted((e for e in events if e.at is not None), key=lambda e: e.at)  # type: ignore[arg-type,return-value]
    return dated + [e for e in events if e.at is None]


@dataclass
class ClientHistory:
    incident: Incident
    verdict: ClientVerdict | None  # the client's part of the incident, once assessed


def history(client: str, incidents: list[Incident]) -> list[ClientHistory]:
    return [ClientHistory(i, next((c for c in i.clients if c.client == client), None)) for i in incidents]
