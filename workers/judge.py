"""The verdict rules. Pure functions, no I/O: checks in, severities and one-line summaries out.

critical  the service fails on every server of the client: the client sees an outage
degraded  it fails on some servers (at least `threshold` percent of them) or answers slower than its
          limit: redundancy is lost, the client may notice
ok        no client-visible impact (a failure below the threshold is reported, not escalated)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from responder.verdict import RANK, Check, ClientVerdict, LogExcerpt, ServiceVerdict, Severity, failing_servers, worst

__all__ = ["describe", "failing_servers", "incident_severity", "judge_client", "judge_service"]


def judge_service(service: str, checks: Sequence[Check], threshold: float) -> ServiceVerdict:
    servers = {c.server for c in checks}
    failing = {c.server for c in checks if not c.ok}
    slow = {c.server for c in checks if c.ok and c.slow} - failing
    total = len(servers)
    severity: Severity
    if total and len(failing) == total:
        severity = "critical"
    elif (failing and 100.0 * len(failing) / total >= threshold) or slow:
        severity = "degraded"
    else:
        severity = "ok"
    return ServiceVerdict(
        service=service, severity=severity, servers_total=total, servers_failing=len(failing),
        servers_slow=len(slow), checks=sorted(checks, key=lambda c: (c.ok, c.server)),
    )


def _pct(part: int, whole: int) -> str:
    return f"{round(100.0 * part / whole)}%" if whole else "0%"


def describe(v: ServiceVerdict, threshold: float) -> str:
    """One phrase about one service, e.g. `shop down on all 2 servers`."""
    if v.severity == "critical":
        return f"{v.service} down on all {v.servers_total} servers" if v.servers_total > 1 \
            else f"{v.service} down on its only server"
    if v.servers_failing:
        text = f"{v.service} failing on {v.servers_failing} of {v.servers_total} servers " \
               f"({_pct(v.servers_failing, v.servers_total)})"
        if v.severity == "ok":
            text += f", under the {threshold:g}% threshold"
        return text
    if v.servers_slow:
        return f"{v.service} slow on {v.servers_slow} of {v.servers_total} servers"
    return f"{v.service} ok"


def judge_client(client: str, services: Iterable[ServiceVerdict], threshold: float,
                 logs: Sequence[LogExcerpt] = ()) -> ClientVerdict:
    ordered = sorted(services, key=lambda v: (-RANK[v.severity], -v.servers_failing, v.service))
    severity = worst(v.severity for v in ordered)
    noteworthy = [describe(v, threshold) for v in ordered if v.servers_failing or v.servers_slow]
    if not ordered:
        summary = "no services to check"
    elif noteworthy:
        summary = "; ".join(noteworthy)
    else:
        n_servers = max(v.servers_total for v in ordered)
        summary = f"all {len(ordered)} services pass on {n_servers} servers" if len(ordered) > 1 \
            else f"{ordered[0].service} passes on {n_servers} servers"
    return ClientVerdict(client=client, severity=severity, summary=summary, services=ordered, logs=list(logs))


def incident_severity(clients: Iterable[ClientVerdict]) -> Severity:
    return worst(c.severity for c in clients)
