"""The RQ worker class Responder runs: jobs run in the worker's own process (no forked work horse) with
a thread keeping their heartbeat, and RQ's scheduler is a thread of the worker too. A worker is one
process: nothing of its heap is counted twice, and nothing outlives it.
"""

from __future__ import annotations

import gc
import logging
import threading
from datetime import datetime
from typing import Any

from redis.exceptions import RedisError
from rq import SimpleWorker, worker_registration
from rq.executions import Execution
from rq.job import Job
from rq.queue import Queue
from rq.registry import clean_registries
from rq.scheduler import RQScheduler
from rq.scripts import ACQUIRE_OR_REFRESH_LOCK_SCRIPT, acquire_or_refresh_lock
from rq.utils import now, utcformat
from rq.worker import WorkerStatus

from responder.runtime.lifeline import tie_forks
from responder.runtime.memory import rss_mb, trim

log = logging.getLogger("responder.worker")


class _Running:
    """The scheduler thread, with the three things RQ's worker asks of a scheduler process."""

    pid = None  # RQ signals a scheduler process by pid; a thread is stopped through `join`

    def __init__(self, scheduler: ThreadScheduler) -> None:
        self.scheduler = scheduler
        self.thread = threading.Thread(target=scheduler.loop, name="rq-scheduler", daemon=True)
        self.thread.start()

    def is_alive(self) -> bool:
        return self.thread.is_alive()

    def join(self, timeout: float | None = None) -> None:
        self.scheduler.halt.set()
        self.thread.join(timeout)


class ThreadScheduler(RQScheduler):
    """RQ's scheduler as a thread of the worker, on short locks.

    RQ holds a scheduler's locks for `interval + 60` s, so the locks of a scheduler that was killed
    block every other scheduler for a minute (retries and deadline joins wait that long). Here each
    lock is taken and refreshed with LOCK_TTL in the same script call RQ uses (never set for a minute
    first and shortened after: a worker killed in between held it that long), the thread refreshes
    it every `interval`, and a worker that holds no lock tries for it on every round: a SIGKILLed
    worker's scheduling moves to another worker within seconds."""

    LOCK_TTL = 5

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.halt = threading.Event()

    def acquire_locks(self, auto_start: bool = False) -> Any:
        """RQ's `acquire_locks` (the queues whose lock this scheduler now holds), at LOCK_TTL."""
        got = {name for name in self._queue_names
               if acquire_or_refresh_lock(self.connection, self.get_locking_key(name), self.name,
                                          self.LOCK_TTL) != "taken"}
        self._scheduled_job_registries = []  # as RQ does: rebuilt for the queues held now
        self._acquired_locks = got
        self.lock_acquisition_time = datetime.now()  # type: ignore[assignment]  # RQ declares it None, sets it so
        if got and auto_start and (self._process is None or not self._process.is_alive()):
            self.start()
        return got

    def heartbeat(self) -> None:
        """RQ's `heartbeat`, the locks refreshed at LOCK_TTL: a lock another scheduler took is dropped."""
        self.last_heartbeat = now()
        names = sorted(self._acquired_locks)
        script = self.connection.register_script(ACQUIRE_OR_REFRESH_LOCK_SCRIPT)
        with self.connection.pipeline() as pipe:
            pipe.hset(self.key, "last_heartbeat", utcformat(self.last_heartbeat))
            pipe.expire(self.key, self.interval + 60)
            for name in names:
                script(keys=[self.get_locking_key(name)], args=[self.name, self.LOCK_TTL], client=pipe)
            outcomes = pipe.execute()[2:]
        lost = {name for name, outcome in zip(names, outcomes, strict=True) if outcome == 0}
        lapsed = [name for name, outcome in zip(names, outcomes, strict=True) if outcome == 1]
        if lapsed:  # held by nobody in between (this thread was late): taken again, as RQ says too
            log.warning("scheduler: the lock of %s had lapsed; taken again", ", ".join(lapsed))
        if lost:
            log.warning("scheduler: another scheduler holds the lock of %s now", ", ".join(sorted(lost)))
            self._acquired_locks -= lost
            self._scheduled_job_registries = []

    def start(self) -> Any:
        self._status = self.Status.STARTED
        self._process = _Running(self)  # type: ignore[assignment]
        return self._process

    def loop(self) -> None:
        self.register_birth()
        try:
            while not self.halt.wait(self.interval):
                try:
                    if self._acquired_locks != self._queue_names:
                        self.acquire_locks()
                    if self._acquired_locks:
                        self.heartbeat()
                        self.enqueue_scheduled_jobs()
                except RedisError as exc:  # Redis restarting: the next round tries again
                    log.warning("scheduler: %s", exc)
        finally:
            try:
                self.release_locks()
                self.register_death()
            except RedisError:
                pass  # the locks lapse on their own in LOCK_TTL


class ResponderWorker(SimpleWorker):
    """An RQ worker tuned so a job whose worker was killed runs again within a few seconds.

    RQ retries an abandoned job once its heartbeat expires and a worker cleans the registries. Stock
    settings make that up to ten minutes (a 60 s grace on every heartbeat, cleaning every 10 min, a
    405 s blocking wait between cleanings, and a cleaning lock of 15 min that a worker killed while
    cleaning leaves behind). Alerts are time-critical, so here a running job's heartbeat is renewed
    every 2 s with a 3 s grace, idle workers wake every 2 s, clean every second under a lock of 10 s
    released when done: a SIGKILLed worker's job is running again in well under 10 s
    (tests/test_processes.py measures it).

    Memory: RQ's default worker forks a work horse per job, and RSS counts every page the horse
    shares with its worker twice (a 1,000-server outage on two workers peaked at 540 MB, half of it
    the same pages). Here a job runs in the worker itself, as in RQ's SimpleWorker, and a thread
    renews its heartbeat meanwhile (RQ's forking worker does that from the parent while it waits).
    What that gives up: a job that crashes the interpreter takes its worker with it (the supervisor
    starts another, RQ retries the job), and RQ's job timeout is a SIGALRM in the job rather than a
    kill of the horse (every job here is bounded by its own timeouts and deadline first).
    """

    HEARTBEAT_GRACE = 3
    CLEANING_LOCK = 10

    # Grown this much past its start once a job is over and trimmed, a worker starts afresh
    # (`recycle`; `responder worker` execs itself: same pid, a new heap). What a probe shard or a join
    # leaves behind is mostly CPython's arenas pinned by a few survivors, which no collection returns:
    # a worker that idled at 63 MB held 81-95 MB after its shard, while another worker joined (at 20
    # and at 10, one that held 81-84 stayed so through the join). What importing a job's module costs
    # (10-13 MB for a fresh worker's first jobs) counts as start-up: a fresh start would pay it again.
    RECYCLE_MB = 5.0

    def __init__(self, queues: Any, recycle_mb: float | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("worker_ttl", 17)  # RQ blocks for worker_ttl - 15 s between maintenance checks
        kwargs.setdefault("job_monitoring_interval", 2)
        kwargs.setdefault("maintenance_interval", 1)
        super().__init__(queues, **kwargs)
        tie_forks()  # a process a job forks (none does today) dies with the worker
        self.recycle = False
        self.recycle_mb = self.RECYCLE_MB if recycle_mb is None else recycle_mb  # 0: never
        self._start_rss: float | None = None
        self._burst = False

    def work(self, *args: Any, **kwargs: Any) -> bool:
        trim()  # the start-up's scratch (loading the inventory) back to the system
        gc.freeze()  # the set-up heap lives as long as the worker: the collector need not walk it
        self._burst = bool(kwargs.get("burst", args[0] if args else False))
        self._start_rss = rss_mb()
        return bool(super().work(*args, **kwargs))

    def _recycle_if_grown(self) -> None:
        """Ask the work loop to end (then `responder worker` execs itself) when this worker grew past
        RECYCLE_MB; never in burst mode. Also when jobs wait: a fresh start costs ~0.4 s, and the next
        job (say the join, after a shard) would otherwise pile its own peak on the last one's leftovers."""
        if self._burst or self._start_rss is None or self.recycle_mb <= 0:
            return
        now_mb = rss_mb()
        if now_mb is None or now_mb - self._start_rss < self.recycle_mb:
            return
        log.info("worker %s holds %.0f MB after its job (%.0f MB at its start): starting afresh",
                 self.name, now_mb, self._start_rss)
        self.recycle = True
        self._stop_requested = True

    def execute_job(self, job: Job, queue: Queue) -> None:
        """Run the job here, its heartbeat kept by a thread until it ends."""
        execution = self.prepare_execution(job)
        done = threading.Event()
        beat = threading.Thread(target=self._keep_beating, args=(job, execution, done), name="rq-heartbeat",
                                daemon=True)
        beat.start()
        try:
            self.perform_job(job, queue, execution)
        finally:
            done.set()
            beat.join()
            trim()  # an idle worker holds its start-up heap, not its last job's
        self.set_state(WorkerStatus.IDLE)
        self._recycle_if_grown()

    def prepare_job_execution(self, job: Job, remove_from_intermediate_queue: bool = False) -> None:
        """RQ's bookkeeping, then the job's module imported (`_import_first`): only a job RQ has
        marked started is retried when its worker is killed, so the import waits until then."""
        super().prepare_job_execution(job, remove_from_intermediate_queue)
        self._import_first(job)

    def _import_first(self, job: Job) -> None:
        """Import the job's module before it runs, and count what that cost as start-up (`recycle`):
        the imports stay for the worker's life, and a fresh start would pay them again."""
        before = rss_mb()
        try:
            job.func  # noqa: B018 -- resolving it imports its module
        except Exception:  # RQ reports a job it cannot import when it runs it
            return
        after = rss_mb()
        if self._start_rss is not None and before is not None and after is not None and after > before:
            self._start_rss += after - before

    def _keep_beating(self, job: Job, execution: Execution, done: threading.Event) -> None:
        while not done.wait(self.job_monitoring_interval):
            try:
                self.maintain_heartbeats(job, execution)
            except RedisError as exc:  # a Redis blip: the next beat tries again, within the grace
                log.warning("heartbeat of %s: %s", job.id, exc)

    def _start_scheduler(self, burst: bool = False, logging_level: str | None = "INFO", *args: Any,
                         **kwargs: Any) -> None:
        if burst:  # RQ's own path: due jobs are queued once, here, before the burst
            super()._start_scheduler(burst, logging_level, *args, **kwargs)
            # and no scheduler after it: RQ's maintenance would fork one that never ends, and the
            # burst worker would wait for it at exit
            self.scheduler = None
            return
        self.scheduler = ThreadScheduler(
            self.queues, connection=self.connection,
            logging_level=logging_level if logging_level is not None else self.log.level,
            serializer=self.serializer,
        )
        self.scheduler.acquire_locks()
        self.scheduler.start()  # also without the locks: the thread takes them when their holder is gone

    def stop_scheduler(self) -> None:
        if self.scheduler is not None and self.scheduler._process is not None:
            self.scheduler._process.join(timeout=5)

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
