"""The RQ worker class Responder runs: quick to notice a dead worker and retry its job, and taking its
children with it when it dies."""

from __future__ import annotations

from typing import Any

from rq import Worker, worker_registration
from rq.job import Job
from rq.registry import clean_registries
from rq.utils import now

from responder.runtime.lifeline import tie_forks


class ResponderWorker(Worker):
    """An RQ worker tuned so a job whose worker was killed runs again within a few seconds.

    RQ retries an abandoned job once its heartbeat expires and a worker cleans the registries. Stock
    settings make that up to ten minutes (a 60 s grace on every heartbeat, cleaning every 10 min, a
    405 s blocking wait between cleanings, and a cleaning lock of 15 min that a worker killed while
    cleaning leaves behind). Alerts are time-critical, so here a running job's heartbeat is renewed
    every 2 s with a 3 s grace, idle workers wake every 2 s, clean every second under a lock of 10 s
    released when done: a SIGKILLed worker's job is running again in well under 10 s
    (tests/test_processes.py measures it).

    The scheduler and each work-horse are forked children: they are told to die with the worker
    (lifeline.tie_forks), so a `kill -9` of the worker leaves neither an orphan scheduler holding the
    scheduler lock nor a horse still running a job that another worker now retries.
    """

    HEARTBEAT_GRACE = 3
    CLEANING_LOCK = 10

    def __init__(self, queues: Any, **kwargs: Any) -> None:
        kwargs.setdefault("worker_ttl", 17)  # RQ blocks for worker_ttl - 15 s between maintenance checks
        kwargs.setdefault("job_monitoring_interval", 2)
        kwargs.setdefault("maintenance_interval", 1)
        super().__init__(queues, **kwargs)
        tie_forks()

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        interval = self.job_monitoring_interval
        if job.timeout and job.timeout > 0:
            interval = int(min(job.timeout - working_time, interval))
        return int(max(interval, 1)) + self.HEARTBEAT_GRACE

    def clean_registries(self) -> None:
        """RQ's cleaning, under a lock that expires in seconds rather than fifteen minutes."""
        for queue in self.queues:
            if not queue.connection.set(queue.registry_cleaning_key, 1, nx=True, ex=self.CLEANING_LOCK):
                continue
            try:
                clean_registries(queue, self._exc_handlers)
                worker_registration.clean_worker_registry(queue)
                queue.intermediate_queue.cleanup(self, queue)
            finally:
                queue.release_maintenance_lock()
        self.last_cleaned_at = now()  # type: ignore[assignment]
