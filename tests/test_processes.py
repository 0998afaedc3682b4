"""Processes on real parts: SIGKILLed workers and serve leave no child behind, a killed worker's job runs
again within seconds, and an embedded Redis that cannot start (a real damaged AOF) makes the hooks
answer 503 while the notify commands spool, instead of ending `serve`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import redis
from rq import Queue, Retry, Worker
from rq.job import Job

from responder.forward.spool import Spool
from responder.runtime.queues import ASSESS_QUEUE
from tests.conftest import ROOT, run_responder_async
from tests.support.fleet import free_port
from tests.support.scenario import write_config
from tests.support.serve_process import serve, wait_until

INVENTORY = {
    "services": {"shop": {"url": "http://{address}:8001/"}},
    "servers": {"web-01": {"address": "10.0.1.21"}},
    "clients": {"acme": {"servers": ["web-01"], "services": ["shop"]}},
}
AUTH = {"Authorization": "Bearer test-token", "Content-Type": "application/json"}


def children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def start_worker(config: Path, url: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "responder", "worker", "--config", str(config)], cwd=ROOT,
                            env={**os.environ, "RESPONDER_REDIS_URL": url}, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def test_a_sigkilled_workers_job_runs_again_on_another_worker(redis_url: str, tmp_path: Path) -> None:
    """Worker A runs the job; A is SIGKILLed; the job goes back to the queue and worker B runs it. The time
    from the kill to B starting it is measured and printed, not asserted (bench/ owns speed)."""
    path = write_config(tmp_path, INVENTORY)
    conn = redis.Redis.from_url(redis_url)
    a = start_worker(path, redis_url)
    b: subprocess.Popen[bytes] | None = None
    try:
        job = Queue(ASSESS_QUEUE, connection=conn).enqueue(
            "tests.support.jobs.hold_first_run", 3, retry=Retry(max=3), job_timeout=3600, job_id="held")

        def state() -> tuple[str, str | None]:
            j = Job.fetch(job.id, connection=conn)
            status = j.get_status()
            return getattr(status, "value", str(status)), j.worker_name

        await wait_until(lambda: state()[0] == "started", "worker A starts the job", tries=2400)
        first_worker = state()[1]
        horses = children(a.pid)
        b = start_worker(path, redis_url)
        await wait_until(lambda: len(Worker.all(connection=conn)) >= 2, "worker B is up", tries=2400)
        os.kill(a.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        a.wait()
        seen = []
        while True:  # every state the job passes through until B has it
            now = state()
            if not seen or seen[-1] != now:
                seen.append(now)
            if now[0] in ("started", "finished") and now[1] != first_worker:
                recovered = time.monotonic() - killed_at
                break
            assert len(seen) < 50 and b.poll() is None, seen
            await asyncio.sleep(0.02)
        await wait_until(lambda: state()[0] == "finished", "B finishes the job", tries=2400)
        assert Job.fetch(job.id, connection=conn).return_value() == "finished on a retry"
        assert not any(alive(h) for h in horses)  # nothing of A outlived it (its jobs and scheduler ran in it)
        print(f"\njob running again {recovered:.2f} s after its worker was SIGKILLed; states: {seen}")
    finally:
        for p in (a, b):
            if p is not None:
                stop(p)


async def test_a_sigkilled_serve_leaves_no_worker_or_redis(tmp_path: Path) -> None:
    port = free_port()
    path = write_config(tmp_path, INVENTORY, listen=f"127.0.0.1:{port}")
    async with serve(path, port, workers=2, ready="/readyz") as s:
        await wait_until(lambda: len(children(s.pid)) >= 3, "serve has its Redis and two workers", tries=2400)
        kids = children(s.pid)
        grandchildren = [g for k in kids for g in children(k)]
        os.kill(s.pid, signal.SIGKILL)
        await s.proc.wait()
        await wait_until(lambda: not any(alive(p) for p in kids + grandchildren), "every child exits", tries=2400)


def damage(aof: Path) -> bytes:
    good = aof.read_bytes()
    aof.write_bytes(b"this is not an append-only file\r\n" + good)
    return good


async def test_a_damaged_aof_makes_503_not_an_exit(tmp_path: Path) -> None:
    port = free_port()
    path = write_config(tmp_path, INVENTORY, listen=f"127.0.0.1:{port}", incidents={"group_wait": "1h"})
    body = json.dumps({"receiver": "r", "status": "firing", "alerts": [{
        "status": "firing", "labels": {"alertname": "Down", "instance": "web-01"}, "annotations": {},
        "startsAt": "2025-11-18T09:14:12Z", "fingerprint": "f1"}], "version": "4", "groupKey": "k"})
    async with serve(path, port, ready="/readyz") as s, aiohttp.ClientSession() as session, \
            session.post(f"{s.base}/hooks/alertmanager", data=body, headers=AUTH) as r:
        assert r.status == 202
    aof = tmp_path / "var" / "redis" / "appendonly.aof"
    good = damage(aof)
    async with serve(path, port, ready="/healthz") as s, aiohttp.ClientSession() as session:
        await wait_until(lambda: "cannot start" in s.output(), "serve says the embedded Redis cannot start")
        async with session.get(f"{s.base}/readyz") as r:
            assert r.status == 503
        async with session.post(f"{s.base}/hooks/alertmanager", data=body, headers=AUTH) as r:
            assert r.status == 503 and r.headers["Retry-After"]
            assert (await r.json())["error"]
        # the notify commands keep the alert for later
        notify = tmp_path / "notify.yaml"
        notify.write_text(f"state_dir: {tmp_path / 'nvar'}\nreceiver: {{url: '{s.base}', token: test-token}}\n")
        code, _out, err = await run_responder_async(
            "notify", "icinga", "--config", str(notify), "-t", "PROBLEM", "-l", "web-01", "-s", "DOWN")
        assert code == 0, err
        assert len(Spool(tmp_path / "nvar" / "spool").pending()) == 1
        assert s.proc.returncode is None  # serve is still there
        # once the file is mended, serve starts the Redis again by itself and the alert is kept
        aof.write_bytes(good)

        async def ready() -> bool:
            async with session.get(f"{s.base}/readyz") as r:
                return r.status == 200
        await wait_until(ready, "the embedded Redis is back", tries=1200)
        async with session.get(f"{s.base}/api/incidents") as r:
            assert len((await r.json())["incidents"]) == 1
    with contextlib.suppress(FileNotFoundError):
        assert "Traceback" not in s.output()
