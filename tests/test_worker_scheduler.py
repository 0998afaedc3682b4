"""A real `responder worker` is one process: its jobs run in it (no forked work horse) and RQ's scheduler
is a thread of it. The scheduler still puts scheduled jobs on the queue, and when its worker is
SIGKILLed another worker's scheduler takes over within seconds, not after RQ's one-minute lock.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import redis
from rq import Queue, Retry
from rq.job import Job

from responder.runtime.queues import ASSESS_QUEUE
from tests.conftest import ROOT
from tests.support.scenario import write_config
from tests.support.serve_process import wait_until
from tests.test_processes import INVENTORY, children, start_worker, stop


def status(conn: redis.Redis, job_id: str) -> str:
    got = Job.fetch(job_id, connection=conn).get_status()
    return str(getattr(got, "value", got))


def locked(conn: redis.Redis) -> bytes | None:
    return conn.get(f"rq:scheduler-lock:{ASSESS_QUEUE}")  # type: ignore[return-value]


async def test_the_scheduler_is_a_thread_that_moves_scheduled_jobs(redis_url: str, tmp_path: Path) -> None:
    conn = redis.Redis.from_url(redis_url)
    worker = start_worker(write_config(tmp_path, INVENTORY), redis_url)
    try:
        await wait_until(lambda: locked(conn), "the worker's scheduler takes its lock", tries=2400)
        assert 0 < int(conn.ttl(f"rq:scheduler-lock:{ASSESS_QUEUE}")) <= 5  # type: ignore[arg-type]
        job = Queue(ASSESS_QUEUE, connection=conn).enqueue_in(
            timedelta(seconds=1), "tests.support.jobs.hold_first_run", 0, job_id="later")
        await wait_until(lambda: status(conn, job.id) == "finished", "the scheduled job is queued and run",
                         tries=2400)
        # refreshed by its heartbeats since, never for longer (RQ's own TTL would be a minute)
        assert 0 < int(conn.ttl(f"rq:scheduler-lock:{ASSESS_QUEUE}")) <= 5  # type: ignore[arg-type]
        assert children(worker.pid) == []  # no scheduler process, no work horse
    finally:
        stop(worker)


async def test_a_sigkilled_workers_scheduling_moves_to_another_worker(redis_url: str, tmp_path: Path) -> None:
    conn = redis.Redis.from_url(redis_url)
    path = write_config(tmp_path, INVENTORY)
    a = start_worker(path, redis_url)
    b = None
    try:
        await wait_until(lambda: locked(conn), "worker A's scheduler takes the lock", tries=2400)
        held_by_a = locked(conn)
        b = start_worker(path, redis_url)
        await wait_until(lambda: conn.scard("rq:workers") >= 2, "worker B is up", tries=2400)
        os.kill(a.pid, signal.SIGKILL)
        a.wait()
        await wait_until(lambda: locked(conn) not in (None, held_by_a), "B's scheduler takes the lock", tries=2400)
        job = Queue(ASSESS_QUEUE, connection=conn).enqueue_in(
            timedelta(seconds=1), "tests.support.jobs.hold_first_run", 0, job_id="after-the-kill")
        await wait_until(lambda: status(conn, job.id) == "finished", "B queues and runs the scheduled job",
                         tries=2400)
    finally:
        for p in (a, b):
            if p is not None:
                stop(p)


def start_recycling_worker(redis_url: str, tmp_path: Path) -> subprocess.Popen[bytes]:
    """A `responder worker` that starts afresh 20 MB past its start."""
    env = {**os.environ, "RESPONDER_REDIS_URL": redis_url, "RESPONDER_WORKER_RECYCLE_MB": "20"}
    return subprocess.Popen([sys.executable, "-m", "responder", "worker", "--config",
                             str(write_config(tmp_path, INVENTORY))], cwd=ROOT, env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def test_a_worker_grown_past_its_start_execs_afresh_and_goes_on(redis_url: str, tmp_path: Path) -> None:
    """A job leaves 40 MB behind: the worker execs itself (same pid, so serve's supervisor and systemd see
    no exit), registers again with RQ under the same name, and takes the next job."""
    conn = redis.Redis.from_url(redis_url)
    worker = start_recycling_worker(redis_url, tmp_path)
    try:
        await wait_until(lambda: conn.scard("rq:workers") == 1, "the worker registers", tries=2400)
        (first,) = conn.smembers("rq:workers")
        key = first.decode()
        born = conn.hget(key, "birth")
        queue = Queue(ASSESS_QUEUE, connection=conn)
        grown = queue.enqueue("tests.support.jobs.keep", 40)
        await wait_until(lambda: status(conn, grown.id) == "finished", "the growing job runs", tries=2400)
        await wait_until(lambda: conn.hget(key, "birth") not in (None, born) and not conn.hexists(key, "death"),
                         "the worker is born again under its name", tries=2400)
        assert conn.smembers("rq:workers") == {first}
        assert worker.poll() is None  # the same process: exec, not exit
        after = queue.enqueue("tests.support.jobs.keep", 1)
        await wait_until(lambda: status(conn, after.id) == "finished", "the fresh worker takes the next job",
                         tries=2400)
        assert after.latest_result() is not None and after.latest_result().return_value == 1  # a new heap
    finally:
        stop(worker)


async def test_what_a_jobs_module_costs_to_import_never_restarts_the_worker(redis_url: str, tmp_path: Path) -> None:
    """A fresh start would import it again: only what a job leaves behind counts."""
    conn = redis.Redis.from_url(redis_url)
    worker = start_recycling_worker(redis_url, tmp_path)
    try:
        await wait_until(lambda: conn.scard("rq:workers") == 1, "the worker registers", tries=2400)
        (key,) = (k.decode() for k in conn.smembers("rq:workers"))
        born = conn.hget(key, "birth")
        queue = Queue(ASSESS_QUEUE, connection=conn)
        jobs = [queue.enqueue("tests.support.heavy_import.small") for _ in range(3)]
        await wait_until(lambda: all(status(conn, j.id) == "finished" for j in jobs), "the jobs run", tries=2400)
        assert conn.hget(key, "birth") == born  # never started afresh
        grown = queue.enqueue("tests.support.jobs.keep", 40)
        await wait_until(lambda: status(conn, grown.id) == "finished", "the growing job runs", tries=2400)
        await wait_until(lambda: conn.hget(key, "birth") not in (None, born), "what a job left still counts",
                         tries=2400)
    finally:
        stop(worker)


async def test_a_worker_killed_while_it_imports_a_jobs_module_leaves_the_job_to_be_retried(
        redis_url: str, tmp_path: Path) -> None:
    """The job's module is imported once RQ has marked the job started: a kill then is a job another
    worker runs again, as a kill mid-job is, not a job gone from every queue."""
    conn = redis.Redis.from_url(redis_url)
    path = write_config(tmp_path, INVENTORY)
    a = start_worker(path, redis_url)
    b = None
    try:
        job = Queue(ASSESS_QUEUE, connection=conn).enqueue("tests.support.slow_import.done", retry=Retry(max=3),
                                                           job_timeout=3600, job_id="killed-importing")
        await wait_until(lambda: status(conn, job.id) == "started", "A starts the job", tries=2400)
        os.kill(a.pid, signal.SIGKILL)  # within the module's 3 s import
        a.wait()
        b = start_worker(path, redis_url)
        await wait_until(lambda: status(conn, job.id) == "finished", "another worker runs it again", tries=2400)
    finally:
        for p in (a, b):
            if p is not None:
                stop(p)


def test_a_malformed_recycle_threshold_is_one_line(redis_url: str, tmp_path: Path) -> None:
    got = subprocess.run([sys.executable, "-m", "responder", "worker", "--config",
                          str(write_config(tmp_path, INVENTORY))], cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, "RESPONDER_REDIS_URL": redis_url,
                              "RESPONDER_WORKER_RECYCLE_MB": "lots"}, timeout=120)
    assert got.returncode == 2
    assert got.stderr.strip().splitlines()[-1].endswith(
        "RESPONDER_WORKER_RECYCLE_MB='lots': expected a number of MB (0 never restarts the worker)")
