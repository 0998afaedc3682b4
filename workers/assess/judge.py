"""The verdict rules. Pure functions, no I/O: checks in, severities and one-line summaries out.

critical  fewer than `min_healthy` (default 1) of the client's servers pass, even if every server not
          checked passed: with the default, the service fails on every server (an outage)
degraded  it fails on some servers (at least `threshold` percent of them) or answers slower than its
          limit: redundancy is lost, the client may notice
ok        no client-visible impact (a failure below the threshold is reported, not escalated)

A server with no check is *not checked*: it neither passes nor fails, so a partial probe
(`check --server`, a shard that never reported) can never make an outage out of a doubt.
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
    built,
    failing_servers,
    worst,
)
from responder.wording import client_summary

__all__ = ["failing_servers", "incident_severity", "judge_client", "judge_service"]


def judge_service(service: str, checks: Sequence[Check], threshold: float,
                  servers: Sequence[str] | None = None, min_healthy: int = 1) -> ServiceVerdict:
    """Judge one service of a client from its checks; `servers` are all of the client's servers
    (default: those checked)."""
    checked = {c.server for c in checks}
    every = list(dict.fromkeys([*(servers or ()), *sorted(checked)]))
    failing = {c.server for c in checks if not c.ok}
    passing = checked - failing
    slow = {c.server for c in checks if c.ok and c.slow} - failing
    not_checked = [s for s in every if s not in checked]
    total = len(every)
    severity: Severity
    if checked and len(passing) + len(not_checked) < min_healthy:
        severity = "critical"
    elif (failing and 100.0 * len(failing) / total >= threshold) or slow or (checked and len(passing) < min_healthy):
        severity = "degraded"
    else:
        severity = "ok"
    return built(
        ServiceVerdict, service=service, severity=severity, servers_total=total, servers_failing=len(failing),
        servers_slow=len(slow), servers_passing=len(passing), min_healthy=min_healthy, not_checked=not_checked,
        checks=sorted(checks, key=lambda c: (c.ok, c.server)),
    )


def judge_client(client: str, services: Iterable[ServiceVerdict], threshold: float,
                 logs: Sequence[LogExcerpt] = (), language: str = "en") -> ClientVerdict:
    """The client's verdict: its worst service's severity, services worst first, a summary in the
    report's language."""
    ordered = sorted(services, key=lambda v: (-RANK[v.severity], -v.servers_failing, v.service))
    return built(
        ClientVerdict, client=client, severity=worst(v.severity for v in ordered),
        summary=client_summary(ordered, threshold, language), services=ordered, logs=list(logs), changes=[],
        maintenance=None)


def incident_severity(clients: Iterable[ClientVerdict]) -> Severity:
    return worst(c.severity for c in clients)
