"""The join of an assessment: checks in, verdicts out, evidence pulled, the incident settled.

`judge` (workers/assess/verdicts.py) is shared with the in-process assessment (`check`, `replay`). A
target whose check is missing (its shard never reported before the deadline) gives no Check, so the
judge counts that server as *not checked*: a doubt never becomes an outage.

`join_job` runs once the last shard reported, or at the deadline, whichever comes first; a claim in the
store and the incident's `assessed_generation` make sure only one of them settles the incident.
"""

from __future__ import annotations

import asyncio
import contextlib

from redis.exceptions import RedisError
from rq import get_current_job

from responder import config as config_module
from responder.config import Config
from responder.lifecycle.flight import finish_assessment
from responder.model.alert import utcnow
from responder.model.incident import Incident
from responder.model.verdict import Check, ClientVerdict
from responder.runtime.logs import incident_job
from responder.runtime.queues import assess_scheduler, notify_scheduler
from responder.store import Store
from workers.assess.verdicts import gather_evidence, judge


def record_stats(store: Store, verdicts: list[ClientVerdict], incident: Incident) -> None:
    """For /metrics: how long the assessment took (from when it was due to its verdict), each
    probe's duration, and the checks by result."""
    checks = [k for v in verdicts for s in v.services for k in s.checks]
    if incident.due_at is not None:
        store.observe("assessment", [max(0.0, (utcnow() - incident.due_at).total_seconds())])
    store.observe("probe", [k.latency_ms / 1000 for k in checks if k.latency_ms is not None])
    with store.r.pipeline(transaction=False) as pipe:
        for result in ("ok", "slow", "failing"):
            n = sum(1 for k in checks if ("failing" if not k.ok else "slow" if k.slow else "ok") == result)
            if n:
                store.count("checks", result, n=n, pipe=pipe)
        pipe.execute()


JOIN_CLAIM_TTL = 120  # seconds: longer than a join lasts; a dead joiner's claim lapses after it


def join(store: Store, config: Config, incident_id: str, generation: int) -> str:
    """Judge what the shards reported and settle the incident; a no-op once it is settled."""
    incident = store.get_incident(incident_id, verdicts=False)  # the new ones replace those stored
    if incident is None:
        return "vanished"
    if incident.assessed_generation >= generation:
        return "already joined"
    if not store.claim_join(incident_id, generation, JOIN_CLAIM_TTL):
        # another join holds it; if its worker died, this retry comes after the claim lapsed
        raise RuntimeError(f"the join of {incident_id} (#{generation}) is held by another worker")
    try:
        clients = store.fanout_clients(incident_id, generation)
        raw = store.fanout_checks(incident_id, generation)
        parsed: dict[str, Check] = {}

        def checks(key: str) -> Check | None:
            if key not in parsed and key in raw:
                parsed[key] = Check.model_validate_json(raw[key])
            return parsed.get(key)

        verdicts = judge(config, incident.affected if clients is None else clients, checks)
        reported = len(raw)
        raw.clear()  # the verdicts hold what they need; the rest of the join is the peak
        parsed.clear()
        verdicts = asyncio.run(gather_evidence(config, verdicts, incident.alerts))
        fresh = store.get_incident(incident_id, alerts=False, verdicts=False)
        if fresh is None or fresh.assessed_generation >= generation:
            return "already joined"
        with contextlib.suppress(RedisError):  # a counter never costs an assessment
            record_stats(store, verdicts, fresh)
        conn = store.r
        settled = finish_assessment(store, config, incident_id, generation, verdicts,
                                    assess_scheduler(conn), notify_scheduler(conn))
    except BaseException:
        store.release_join(incident_id, generation)
        raise
    return f"{settled.severity}: {len(verdicts)} clients, {reported} requests reported"


@incident_job
def join_job(incident_id: str, generation: int) -> str:
    """RQ job: the join, queued by the last shard to report and scheduled at the deadline."""
    job = get_current_job()
    assert job is not None, "join_job runs inside an RQ worker"
    return join(Store(job.connection), config_module.current(), incident_id, generation)
