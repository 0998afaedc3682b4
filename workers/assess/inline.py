"""The assessment in this process (`check`, `replay`): probe each distinct request once, judge, pull
evidence. Nothing here imports redis or rq: `check` needs neither (they cost it 10 MB and a few
tenths of a second of start-up); the RQ side is workers/assess/job.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from responder.config import Config
from responder.model.alert import Alert
from responder.model.verdict import ClientVerdict
from workers.assess.probe import probe_requests
from workers.assess.requests import Result, distinct, per_target
from workers.assess.verdicts import gather_evidence, judge

__all__ = ["assess"]


async def assess(config: Config, clients: Iterable[str], *, servers: Iterable[str] | None = None,
                 services: Iterable[str] | None = None, alerts: Sequence[Alert] = (),
                 evidence: bool = True, on_result: Callable[[Result], None] | None = None) -> list[ClientVerdict]:
    """Probe (each distinct request once) and judge the clients in this process; worst first."""
    inv = config.inventory
    names = [c for c in dict.fromkeys(clients) if c in inv.clients]
    only = list(servers) if servers is not None else None
    wanted = list(services) if services is not None else None
    requests, shared = distinct(t for c in names for t in inv.targets(c, servers=only, services=wanted))
    checks = await probe_requests(requests, config.probe, per_target(shared, on_result) if on_result else None)
    # the targets and requests (~20 MB at 40,000 checks) go before the verdicts are built, which
    # then reuse their memory instead of adding to the peak; the checks live on in the verdicts
    del requests, shared
    verdicts = judge(config, names, checks.get, servers=only, services=wanted)
    del checks
    if evidence:
        verdicts = await gather_evidence(config, verdicts, alerts)  # the order stays: no severity changes
    return verdicts

