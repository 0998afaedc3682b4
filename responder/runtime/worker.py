"""The RQ worker class Responder runs: quick to notice a dead worker and retry its job."""

from __future__ import annotations

from typing import Any

from rq import Worker
from rq.job import Job


class ResponderWorker(Worker):
    """An RQ worker tuned so a job whose worker was killed is retried within about half a minute.

    RQ retries an abandoned job once its heartbeat expires and a worker cleans the registries. Stock
    settings make that up to ten minutes (a 60 s grace on every heartbeat, cleaning every 10 min, a
    405 s blocking wait between cleanings); alerts are time-critical, so heartbeats here carry a 15 s
    grace, every worker wakes every 15 s and cleans every 15 s.
    """

    HEARTBEAT_GRACE = 15

    def __init__(self, queues: Any, **kwargs: Any) -> None:
        kwargs.setdefault("worker_ttl", 30)
        kwargs.setdefault("job_monitoring_interval", 5)
        kwargs.setdefault("maintenance_interval", 15)
        super().__init__(queues, **kwargs)

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        interval = self.job_monitoring_interval
        if job.timeout and job.timeout > 0:
            interval = int(min(job.timeout - working_time, interval))
        return int(interval) + self.HEARTBEAT_GRACE
