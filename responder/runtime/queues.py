"""RQ wiring: queue names, job paths, and how assessments and notifications are put on the queues.

Redis and RQ are the distributed engine: every `responder worker`, on any machine, takes jobs from
the same queues. The job paths are strings, so nothing in `responder/` imports `workers/`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import redis
from rq import Queue, Retry, Worker

from responder.model.alert import utcnow

ASSESS_QUEUE = "responder-assess"
NOTIFY_QUEUE = "responder-notify"
QUEUES = (ASSESS_QUEUE, NOTIFY_QUEUE)
ASSESS_JOB = "workers.assess.job.assess_job"
SHARD_JOB = "workers.assess.shards.shard_job"
JOIN_JOB = "workers.assess.join.join_job"
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


# -- the fan-out: probe shards and their join -------------------------------------------------------


def assess_workers(conn: redis.Redis) -> int:
    """Workers listening on the assess queue now (the caller among them): how many shards run at once."""
    return int(Worker.count(connection=conn, queue=Queue(ASSESS_QUEUE, connection=conn)))


def queue_shards(pipe: Any, conn: redis.Redis, incident_id: str, generation: int, shards: int,
                 deadline: datetime) -> None:
    """Put the probe shards on the assess queue, and the join that runs at the deadline whatever came
    back, inside the caller's transaction (with the plan they read).

    A shard lost with its worker is retried at once when RQ notices its heartbeat lapsed (ResponderWorker:
    within about 20-35 s); the join is retried later, after a dead joiner's claim lapsed."""
    queue = Queue(ASSESS_QUEUE, connection=conn)
    for n in range(shards):
        job = queue.create_job(
            SHARD_JOB, args=(incident_id, generation, n), job_id=f"shard-{incident_id}-{generation}-{n}",
            retry=Retry(max=3), timeout=600, result_ttl=3600, failure_ttl=7 * 86400,
            description=f"probe shard {n + 1}/{shards} of incident {incident_id} (#{generation})",
        )
        queue.enqueue_job(job, pipeline=pipe)
    queue.schedule_job(_join(queue, incident_id, generation, "deadline"), deadline, pipeline=pipe)


def queue_join(conn: redis.Redis, incident_id: str, generation: int) -> None:
    """The last shard to report queues the join at the front: the verdict waits on nothing else."""
    queue = Queue(ASSESS_QUEUE, connection=conn)
    queue.enqueue_job(_join(queue, incident_id, generation, "reported"), at_front=True)


def _join(queue: Queue, incident_id: str, generation: int, why: str) -> Any:
    return queue.create_job(
        JOIN_JOB, args=(incident_id, generation), job_id=f"join-{incident_id}-{generation}-{why}",
        retry=Retry(max=4, interval=[15, 30, 60, 120]), timeout=900, result_ttl=3600,
        failure_ttl=7 * 86400, description=f"join incident {incident_id} (#{generation}, {why})",
    )
