"""The assessment: probe every service of each affected client on all its servers, pull evidence
from the failing ones, judge, store, and queue the notifications.

`assess` is the pipeline itself (used by the RQ job, `replay` and `check`); `assess_job` is the RQ
entry point that wraps it in the incident's single-flight lifecycle.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence

from rq import get_current_job

from responder import config as config_module
from responder.config import Config
from responder.lifecycle.flight import begin_assessment, finish_assessment
from responder.model.alert import Alert
from responder.model.verdict import ClientVerdict, worst_first
from responder.runtime.queues import assess_scheduler, notify_scheduler
from responder.store import Store
from workers.assess.judge import judge_client, judge_service
from workers.assess.probe import Result, probe


async def assess(config: Config, clients: Iterable[str], *, servers: Iterable[str] | None = None,
                 services: Iterable[str] | None = None, alerts: Sequence[Alert] = (),
                 evidence: bool = True, on_result: Callable[[Result], None] | None = None) -> list[ClientVerdict]:
    """Probe and judge the clients; the answer is ordered worst first."""
    inv = config.inventory
    names = [c for c in dict.fromkeys(clients) if c in inv.clients]
    targets = [t for c in names for t in inv.targets(c, servers=servers, services=services)]
    results = await probe(targets, config.probe, on_result=on_result)
    by_client: dict[str, dict[str, list]] = {c: defaultdict(list) for c in names}
    for r in results:
        by_client[r.target.client][r.target.service].append(r.check)
    threshold = config.incidents.threshold
    verdicts = [
        judge_client(c, [judge_service(s, checks, threshold, servers=inv.clients[c].servers,
                                        min_healthy=inv.min_healthy(c, s))
                         for s, checks in by_client[c].items()], threshold, language=config.report.language)
        for c in names
    ]
    if evidence:
        verdicts = await gather_evidence(config, verdicts, alerts)
    return sorted(verdicts, key=lambda v: (worst_first(v.severity), v.client))


async def gather_evidence(config: Config, verdicts: list[ClientVerdict],
                          alerts: Sequence[Alert]) -> list[ClientVerdict]:
    """Log lines from failing servers, when the collector is available (see workers/collect.py)."""
    try:
        from workers.assess.evidence.gather import collect_for_verdicts
    except ImportError:
        return verdicts
    return await collect_for_verdicts(config, verdicts, alerts)


def assess_job(incident_id: str, generation: int) -> str:
    """RQ job: assess one incident (one generation of it)."""
    config = config_module.current()
    job = get_current_job()
    assert job is not None, "assess_job runs inside an RQ worker"
    store = Store(job.connection)
    incident = begin_assessment(store, incident_id, generation)
    if incident is None:
        return "superseded"
    verdicts = asyncio.run(assess(config, incident.affected, alerts=incident.alerts))
    incident = finish_assessment(store, config, incident_id, generation, verdicts,
                                 assess_scheduler(job.connection), notify_scheduler(job.connection))
    return f"{incident.severity}: {len(verdicts)} clients"
