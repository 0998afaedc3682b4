"""From checks to verdicts in any process, with no Redis or RQ: `judge` and `gather_evidence`.

`judge` is shared by the in-process assessment (`check`, `replay`, workers/assess/job.py) and the
fanned-out one's join (workers/assess/join.py): it turns each client's targets and whatever checks came
back into verdicts. A target whose check is missing gives no Check, so the judge counts that server as
*not checked*. Kept apart from the join so `check` imports neither redis nor rq (10 MB and a few
tenths of a second of its start).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence

from responder.config import Config
from responder.model.alert import Alert
from responder.model.verdict import Check, ClientVerdict, failing_servers, worst_first
from workers.assess.judge import judge_client, judge_service
from workers.assess.requests import for_target, request_key

__all__ = ["gather_evidence", "judge"]


def judge(config: Config, clients: Iterable[str], checks: Callable[[str], Check | None], *,
          servers: Iterable[str] | None = None, services: Iterable[str] | None = None) -> list[ClientVerdict]:
    """Every client's verdict from the checks of its targets (`checks` answers by request key);
    worst first."""
    inv = config.inventory
    threshold = config.incidents.threshold
    only = list(servers) if servers is not None else None
    wanted = list(services) if services is not None else None
    verdicts = []
    for c in dict.fromkeys(clients):
        if c not in inv.clients:
            continue
        by_service: dict[str, list[Check]] = defaultdict(list)
        for t in inv.targets(c, servers=only, services=wanted):
            by_service.setdefault(t.service, [])
            check = checks(request_key(t))
            if check is not None:
                by_service[t.service].append(for_target(check, t))
        services_judged = [judge_service(s, found, threshold, servers=inv.clients[c].servers,
                                         min_healthy=inv.min_healthy(c, s))
                           for s, found in by_service.items()]
        verdicts.append(judge_client(c, services_judged, threshold, language=config.report.language))
    return sorted(verdicts, key=lambda v: (worst_first(v.severity), v.client))


async def gather_evidence(config: Config, verdicts: list[ClientVerdict],
                          alerts: Sequence[Alert]) -> list[ClientVerdict]:
    """Log lines from failing servers, when the collector is available (workers/assess/evidence).

    The collector (asyncssh and its crypto: ~17 MB a process) is imported only when a failing server
    has `logs` to read: a join of 2,864 clients without any grew by that much for nothing."""
    servers = config.inventory.servers
    if not any(servers[n].logs for v in verdicts for n in failing_servers(v) if n in servers):
        return verdicts
    try:
        from workers.assess.evidence.gather import collect_for_verdicts
    except ImportError:
        return verdicts
    return await collect_for_verdicts(config, verdicts, alerts)
