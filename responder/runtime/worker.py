"""The RQ worker class Responder runs: quick to notice a dead worker and retry its job, taking its
children with it when it dies, and small (its RQ scheduler is a fresh lean process, not a fork).

`python -m responder.runtime.worker LEVEL NAME QUEUE...` is that scheduler process (the URL of its
Redis comes in the environment, never on a command line that `ps` shows).
"""

from __future__ import annotations

import gc
import logging
import os
import subprocess
import sys
from typing import Any

import redis
from rq import Worker, worker_registration
from rq.job import Job
from rq.registry import clean_registries
from rq.scheduler import RQScheduler
from rq.utils import now

from responder.runtime.lifeline import preexec, tie_forks

SCHEDULER_URL_ENV = "RESPONDER_RQ_SCHEDULER_URL"


class _Child:
    """The scheduler process, with the three things RQ's worker asks of it (pid, is_alive, join)."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        self.pid = proc.pid

    def is_alive(self) -> bool:
        return self.proc.poll() is None

    def join(self, timeout: float | None = None) -> None:
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class LeanScheduler(RQScheduler):
    """RQ's scheduler, started as a new interpreter that imports only RQ and redis (about 35 MB)
    instead of a fork of the worker (the worker's whole heap: the inventory, pydantic, every module).

    The worker still takes the scheduler lock under this scheduler's name before starting it; the
    child refreshes that lock under the same name, dies with the worker (SIGTERM: it releases the
    lock on the way out), and is replaced by RQ's maintenance like a forked one would be."""

    def __init__(self, *args: Any, redis_url: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.redis_url = redis_url
        self.level = kwargs.get("logging_level", logging.INFO)

    def start(self) -> Any:
        self._status = self.Status.STARTED
        level = self.level if isinstance(self.level, str) else logging.getLevelName(self.level)
        argv = [sys.executable, "-m", "responder.runtime.worker", str(level), self.name, *sorted(self._queue_names)]
        env = {**os.environ, SCHEDULER_URL_ENV: self.redis_url}
        proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, preexec_fn=preexec())
        self._process = _Child(proc)  # type: ignore[assignment]
        return self._process


class ResponderWorker(Worker):
    """An RQ worker tuned so a job whose worker was killed runs again within a few seconds.

    RQ retries an abandoned job once its heartbeat expires and a worker cleans the registries. Stock
    settings make that up to ten minutes (a 60 s grace on every heartbeat, cleaning every 10 min, a
    405 s blocking wait between cleanings, and a cleaning lock of 15 min that a worker killed while
    cleaning leaves behind). Alerts are time-critical, so here a running job's heartbeat is renewed
    every 2 s with a 3 s grace, idle workers wake every 2 s, clean every second under a lock of 10 s
    released when done: a SIGKILLed worker's job is running again in well under 10 s
    (tests/test_processes.py measures it).

    The scheduler and each work-horse are children: they are told to die with the worker
    (lifeline.preexec, lifeline.tie_forks), so a `kill -9` of the worker leaves neither an orphan
    scheduler holding the scheduler lock nor a horse still running a job that another worker now retries.

    Memory: the scheduler is a LeanScheduler (a new small process), and the worker's heap is frozen
    out of the garbage collector once it is set up (gc.freeze), so a horse's collections do not write
    to every inherited object and copy the pages it shares with the worker.
    """

    HEARTBEAT_GRACE = 3
    CLEANING_LOCK = 10

    def __init__(self, queues: Any, *, redis_url: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("worker_ttl", 17)  # RQ blocks for worker_ttl - 15 s between maintenance checks
        kwargs.setdefault("job_monitoring_interval", 2)
        kwargs.setdefault("maintenance_interval", 1)
        super().__init__(queues, **kwargs)
        self.redis_url = redis_url
        tie_forks()

    def work(self, *args: Any, **kwargs: Any) -> bool:
        gc.collect()
        gc.freeze()  # what is alive now lives as long as the worker: keep it shared with the horses
        return bool(super().work(*args, **kwargs))

    def _start_scheduler(self, burst: bool = False, logging_level: str | None = "INFO", *args: Any,
                         **kwargs: Any) -> None:
        if self.redis_url is None:  # no URL to hand a new process: RQ's forked scheduler
            super()._start_scheduler(burst, logging_level, *args, **kwargs)
            return
        self.scheduler = LeanScheduler(
            self.queues, connection=self.connection, redis_url=self.redis_url,
            logging_level=logging_level if logging_level is not None else self.log.level,
            serializer=self.serializer,
        )
        self.scheduler.acquire_locks()
        if not self.scheduler.acquired_locks:
            return
        if burst:
            try:
                self.scheduler.register_birth()
                self.scheduler.enqueue_scheduled_jobs()
            finally:
                self.scheduler.release_locks()
                self.scheduler.register_death()
        else:
            self.scheduler.start()

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


def scheduler_main(argv: list[str]) -> None:
    """The scheduler process: RQ's scheduler loop under the name the worker locked for it."""
    from responder.runtime import logs  # light: no config, no pydantic

    level, name, *queues = argv
    logs.configure(level, os.environ.get(logs.FORMAT_ENV, "text"))
    url = os.environ.pop(SCHEDULER_URL_ENV, "")
    scheduler = RQScheduler(queues, connection=redis.Redis.from_url(url), logging_level=level, name=name)
    scheduler.acquire_locks()  # the worker's lock, refreshed under the same name
    scheduler.work()


if __name__ == "__main__":
    scheduler_main(sys.argv[1:])
