"""RQ wiring: queue names, job paths, and how assessments and notifications are put on the queues.

Redis and RQ are the distributed engine: every `responder worker`, on any machine, takes jobs from
the same queues. The job paths are strings, so nothing in `responder/` imports `workers/`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import redis
from rq import Queue, Retry

from responder.model.alert import utcnow

ASSESS_QUEUE = "responder-assess"
NOTIFY_QUEUE = "responder-notify"
QUEUES = (ASSESS_QUEUE, NOTIFY_QUEUE)
ASSESS_JOB = "workers.assess.job.assess_job"
NOTIFY_JOB = "workers.notify.job.notify_job"


def assess_scheduler(conn: redis.Redis) -> Any:
    """A Scheduler for responder.intake.grouping: queue `assess_job` now or at `when`, inside the caller's
    MULTI/EXEC so the alert, the incident and the job are stored together or not at all."""
    queue = Queue(ASSESS_QUEUE, connection=conn)

    def schedule(pipe: Any, incident_id: str, generation: int, when: datetime) -> None:
        job = queue.create_job(
            ASSESS_JOB, args=(incident_id, generation), job_id=f"assess-{incident_id}-{generation}",
            retry=Retry(max=3), timeout=900, result_ttl=3600,
            failure_ttl=7 * 86400, description=f"assess incident {incident_id} (#{generation})",
        )
        if when <= utcnow() + timedelta(milliseconds=50):
            queue.enqueue_job(job, pipeline=pipe)
        else:
            queue.schedule_job(job, when, pipeline=pipe)

    return schedule


def notify_scheduler(conn: redis.Redis) -> Any:
    """A Notifier for responder.intake.grouping: queue `notify_job` for one state of one incident."""
    queue = Queue(NOTIFY_QUEUE, connection=conn)

    def notify(pipe: Any, incident_id: str, state: str) -> None:
        job = queue.create_job(
            NOTIFY_JOB, args=(incident_id, state), job_id=f"notify-{incident_id}-{state}",
            # the last retry comes after a dead sender's claim went stale (Store.CLAIM_STALE)
            retry=Retry(max=3, interval=[10, 60, 180]), timeout=300, result_ttl=3600,
            failure_ttl=7 * 86400, description=f"notify incident {incident_id} ({state})",
        )
        queue.enqueue_job(job, pipeline=pipe)

    return notify
