"""Keeps `responder serve --workers N`'s worker processes alive."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from responder.runtime.embedded import REDIS_URL_ENV
from responder.runtime.lifeline import PARENT_PID_ENV


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
        env = {**os.environ, REDIS_URL_ENV: self.redis_url, PARENT_PID_ENV: str(os.getpid())}  # dies with serve
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
