"""Which log lines to gather from which failing server, and how what comes back becomes each client's
excerpts. The SSH side (connections, the remote command, bounds) is in `ssh`; the line rules in `lines`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from responder.config import Config
from responder.inventory import Inventory
from responder.model.alert import Alert
from responder.model.verdict import ClientVerdict, LogExcerpt
from workers.assess.evidence import lines as loglines
from workers.assess.evidence.ssh import Fetch, Output, collect
from workers.assess.judge import failing_servers


def narrowing_terms(inventory: Inventory, client: str, server: str) -> tuple[str, ...]:
    """What a client's lines hold: its `vhosts`; on a server shared with other clients, else the host
    names of its service URLs (so one client's message never carries another's lines)."""
    spec = inventory.clients[client]
    if spec.vhosts:
        return tuple(dict.fromkeys(v for v in spec.vhosts if v))
    if len(inventory.clients_on(server)) < 2:
        return ()
    names = []
    for svc in inventory.services_of(client).values():
        if "{address}" in svc.url or "{server}" in svc.url:
            continue
        host = urlsplit(svc.url).hostname
        if host and not _is_ip(host):
            names.append(host)
    return tuple(dict.fromkeys(names))


def _is_ip(text: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


@dataclass(slots=True)
class _Want:
    """One client's interest in one server: which Fetches, and how to narrow what comes back."""

    fetches: list[Fetch]
    filters: list[re.Pattern[str]]
    error: str | None = None


def _plan(config: Config, verdicts: Sequence[ClientVerdict]) -> dict[tuple[str, str], _Want]:
    inv = config.inventory
    plan: dict[tuple[str, str], _Want] = {}
    for verdict in verdicts:
        client = inv.clients.get(verdict.client)
        if client is None:
            continue
        for name in failing_servers(verdict):
            server = inv.servers.get(name)
            if server is None or not server.logs:
                continue
            try:
                filters = loglines.compile_filters(server.log_filter, client.log_filter)
            except re.error as exc:
                plan[(verdict.client, name)] = _Want([], [], f"log_filter is not a valid pattern: {exc}")
                continue
            terms = narrowing_terms(inv, verdict.client, name)
            fetches = [Fetch(path, terms, wide=bool(filters)) for path in dict.fromkeys(server.logs)]
            plan[(verdict.client, name)] = _Want(fetches, filters)
    return plan


def _excerpt(name: str, fetch: Fetch, out: Output, want: _Want, window: loglines.Span, limit: int,
             host_note: str | None) -> LogExcerpt:
    lines = loglines.select(out.lines, filters=want.filters, window=window, limit=limit)
    notes = [host_note] if host_note else []
    if not lines and not out.error:
        if fetch.terms and not out.lines:
            notes.append(f"no recent line mentions {', '.join(fetch.terms)}")
        elif out.lines:
            notes.append("no recent line matches the log_filter and the alert's time window")
        else:
            notes.append("the log is empty")
    return LogExcerpt(server=name, path=fetch.path, lines=lines, error=out.error, truncated=out.truncated,
                      note="; ".join(notes) or None)


async def collect_for_verdicts(config: Config, verdicts: list[ClientVerdict],
                               alerts: Sequence[Alert]) -> list[ClientVerdict]:
    """Fill each verdict's `logs` from the servers where that client's checks failed.

    A server is contacted once however many clients and logs want it; servers without `logs` in the
    inventory are left alone.
    """
    plan = _plan(config, verdicts)
    wanted: dict[str, list[Fetch]] = {}
    for (_client, name), need in plan.items():
        wanted.setdefault(name, []).extend(need.fetches)
    found = await collect(config, {n: f for n, f in wanted.items() if f})
    window = loglines.Span.around(alerts)
    out: list[ClientVerdict] = []
    for verdict in verdicts:
        excerpts: list[LogExcerpt] = []
        for name in failing_servers(verdict):
            want = plan.get((verdict.client, name))
            if want is None:
                continue
            evidence = found.get(name)
            if want.error or evidence is None:
                excerpts.append(LogExcerpt(server=name, error=want.error or "nothing collected"))
            elif evidence.error:
                excerpts.append(LogExcerpt(server=name, error=evidence.error, note=evidence.note))
            else:
                excerpts += [_excerpt(name, f, evidence.outputs[f], want, window, config.ssh.lines, evidence.note)
                             for f in want.fetches]
        out.append(verdict.model_copy(update={"logs": [*verdict.logs, *excerpts]}) if excerpts else verdict)
    return out
