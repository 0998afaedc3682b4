"""The assessment: probe every service of each affected client on all its servers, judge, pull
evidence from the failing ones, settle, and queue the notifications.

`assess` (workers/assess/inline.py, re-exported here) is the whole pipeline in this process (`replay`
and `check`, one machine, no RQ, no redis imported). `assess_job`
is the RQ entry point: inside the incident's single-flight lifecycle it fans the probes out into
shards any worker can take (workers/assess/shards.py); their join judges and settles
(workers/assess/join.py). Both share the dedupe of requests and the judging.
"""

from __future__ import annotations

from rq import get_current_job

from responder import config as config_module
from responder.lifecycle.flight import begin_assessment
from responder.runtime.logs import incident_job
from responder.store import Store
from workers.assess.inline import assess
from workers.assess.shards import fan_out
from workers.assess.verdicts import gather_evidence

__all__ = ["assess", "assess_job", "gather_evidence"]


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
