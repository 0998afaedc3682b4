"""The verdict rules. Pure functions, no I/O: checks in, severities and one-line summaries out.

critical  the service fails on every server of the client: the client sees an outage
degraded  it fails on some servers (at least `threshold` percent of them) or answers slower than its
          limit: redundancy is lost, the client may notice
ok        no client-visible impact (a failure below the threshold is reported, not escalated)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from responder.model.verdict import (
    RANK,
    Check,
    ClientVerdict,
    LogExcerpt,
    ServiceVerdict,
    Severity,
    failing_servers,
    worst,
)
from responder.wording import client_summary

__all__ = ["failing_servers", "incident_severity", "judge_client", "judge_service"]


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


def judge_client(client: str, services: Iterable[ServiceVerdict], threshold: float,
                 logs: Sequence[LogExcerpt] = (), language: str = "en") -> ClientVerdict:
    """The client's verdict: its worst service's severity, services worst first, a summary in the
    report's language."""
    ordered = sorted(services, key=lambda v: (-RANK[v.severity], -v.servers_failing, v.service))
    return ClientVerdict(client=client, severity=worst(v.severity for v in ordered),
                         summary=client_summary(ordered, threshold, language), services=ordered, logs=list(logs))


def incident_severity(clients: Iterable[ClientVerdict]) -> Severity:
    return worst(c.severity for c in clients)
