"""The assessment: probe every service of each affected client on all its servers, judge, pull
evidence from the failing ones, settle, and queue the notifications.

`assess` is the whole pipeline in this process (`replay` and `check`, one machine, no RQ). `assess_job`
is the RQ entry point: inside the incident's single-flight lifecycle it fans the probes out into
shards any worker can take (workers/assess/shards.py); their join judges and settles
(workers/assess/join.py). Both share the dedupe of requests and the judging.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from rq import get_current_job

from responder import config as config_module
from responder.config import Config
from responder.inventory import Target
from responder.lifecycle.flight import begin_assessment
from responder.model.alert import Alert
from responder.model.verdict import Check, ClientVerdict
from responder.runtime.logs import incident_job
from responder.store import Store
from workers.assess.join import gather_evidence, judge
from workers.assess.probe import Request, Result, distinct, for_target, probe_requests
from workers.assess.shards import fan_out

__all__ = ["assess", "assess_job", "gather_evidence"]


async def assess(config: Config, clients: Iterable[str], *, servers: Iterable[str] | None = None,
                 services: Iterable[str] | None = None, alerts: Sequence[Alert] = (),
                 evidence: bool = True, on_result: Callable[[Result], None] | None = None) -> list[ClientVerdict]:
    """Probe (each distinct request once) and judge the clients in this process; worst first."""
    inv = config.inventory
    names = [c for c in dict.fromkeys(clients) if c in inv.clients]
    only = list(servers) if servers is not None else None
    wanted = list(services) if services is not None else None
    requests, shared = distinct(t for c in names for t in inv.targets(c, servers=only, services=wanted))
    checks = await probe_requests(requests, config.probe, _heard(shared, on_result) if on_result else None)
    # the targets and requests (~20 MB at 40,000 checks) go before the verdicts are built, which
    # then reuse their memory instead of adding to the peak; the checks live on in the verdicts
    del requests, shared
    verdicts = judge(config, names, checks.get, servers=only, services=wanted)
    del checks
    if evidence:
        verdicts = await gather_evidence(config, verdicts, alerts)  # the order stays: no severity changes
    return verdicts


def _heard(shared: dict[str, list[Target]], on_result: Callable[[Result], None]) -> Callable[[Request, Check], None]:
    """Each target's result as soon as its request's check is final."""

    def heard(r: Request, check: Check) -> None:
        for t in shared[r.key]:
            on_result(Result(t, for_target(check, t)))

    return heard


@incident_job
def assess_job(incident_id: str, generation: int) -> str:
    """RQ job: assess one incident (one generation of it) by fanning its probes out into shards."""
    config = config_module.current()
    job = get_current_job()
    assert job is not None, "assess_job runs inside an RQ worker"
    store = Store(job.connection)
    incident = begin_assessment(store, incident_id, generation)
    if incident is None:
        return "superseded"
    return fan_out(store, config, incident, generation)
