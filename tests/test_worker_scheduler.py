"""A real `responder worker` runs RQ's scheduler as a fresh small interpreter, not as a fork of its own
heap (the inventory and every module), and that scheduler still puts scheduled jobs on the queue.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import redis
from rq import Queue
from rq.job import Job

from responder.runtime.queues import ASSESS_QUEUE
from tests.support.scenario import write_config
from tests.support.serve_process import wait_until
from tests.test_processes import INVENTORY, alive, children, start_worker, stop


async def test_the_scheduler_is_a_lean_process_that_moves_scheduled_jobs(redis_url: str, tmp_path: Path) -> None:
    worker = start_worker(write_config(tmp_path, INVENTORY), redis_url)
    try:
        await wait_until(lambda: children(worker.pid), "the worker starts its RQ scheduler", tries=2400)
        [scheduler] = children(worker.pid)
        argv = Path(f"/proc/{scheduler}/cmdline").read_bytes().split(b"\0")
        assert b"responder.runtime.worker" in argv  # a new interpreter, not a fork of `responder worker`
        conn = redis.Redis.from_url(redis_url)
        job = Queue(ASSESS_QUEUE, connection=conn).enqueue_in(
            timedelta(seconds=1), "tests.support.jobs.hold_first_run", 0, job_id="later")

        def status() -> str:
            got = Job.fetch(job.id, connection=conn).get_status()
            return str(getattr(got, "value", got))

        await wait_until(lambda: status() == "finished", "the scheduled job is queued and run", tries=2400)
        assert alive(scheduler)
    finally:
        stop(worker)
