"""`responder serve`: the web app, the embedded Redis when none is configured, and supervised workers.

The embedded Redis is started and restarted off the event loop (its start waits for a ping), and one
that cannot start (a damaged AOF, a full disk) does not end `serve`: the hooks answer 503 with
Retry-After meanwhile, so senders keep their alerts (the notify commands spool them), and `serve`
tries again with a growing delay.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from pathlib import Path

from aiohttp import web

from responder.config import Config
from responder.errors import ResponderError
from responder.redact import install_log_redaction
from responder.runtime.connections import GuardedRunner
from responder.runtime.embedded import EmbeddedRedis, redis_url
from responder.runtime.loop import run as run_loop
from responder.runtime.memory import trim
from responder.runtime.supervisor import Supervisor
from responder.store import Store, connect
from responder.web.app import make_app

log = logging.getLogger("responder.serve")
RESTART_DELAYS = (1.0, 2.0, 5.0, 10.0, 30.0)


class EmbeddedKeeper:
    """Keeps the embedded Redis running without ever blocking the loop on it."""

    def __init__(self, embedded: EmbeddedRedis) -> None:
        self.embedded = embedded
        self.failures = 0
        self.next_try = 0.0
        self.task: asyncio.Task[None] | None = None

    async def _start(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            self.embedded.spawn()  # on the loop's thread, which outlives it (lifeline)
            await loop.run_in_executor(None, self.embedded.wait_ready)
        except (ResponderError, OSError) as exc:
            delay = RESTART_DELAYS[min(self.failures, len(RESTART_DELAYS) - 1)]
            self.failures += 1
            self.next_try = loop.time() + delay
            log.error("the embedded Redis cannot start (%s); the hooks answer 503; trying again in %gs",
                      exc, delay)
            return
        if self.failures:
            log.info("the embedded Redis is running again after %d failed starts", self.failures)
        else:
            log.info("embedded Redis at %s (data in %s)", self.embedded.url, self.embedded.state_dir / "redis")
        self.failures = 0

    def alive(self) -> bool:
        p = self.embedded.process
        return p is not None and p.poll() is None

    def check(self) -> None:
        """Start (again) when it is down, no start is under way and its delay has passed."""
        if self.task is not None and not self.task.done():
            return
        if self.alive():
            return
        loop = asyncio.get_running_loop()
        if self.embedded.process is not None and not self.failures:
            log.error("the embedded Redis exited; restarting it (its data is on disk)")
            self.embedded.process = None
        if loop.time() >= self.next_try:
            self.task = loop.create_task(self._start())

    async def stop(self) -> None:
        if self.task is not None:
            with contextlib.suppress(Exception):
                await self.task
        await asyncio.get_running_loop().run_in_executor(None, self.embedded.stop)


async def _serve(config: Config, config_path: str | None, workers: int) -> None:
    keeper: EmbeddedKeeper | None = None
    url = redis_url(config)
    if url is None:
        keeper = EmbeddedKeeper(EmbeddedRedis(Path(config.state_dir)))
        url = keeper.embedded.url
        keeper.check()
    supervisor = Supervisor(workers, config_path, url) if workers else None
    runner: GuardedRunner | None = None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        store = Store(connect(url))
        app = make_app(config, store)
        runner = GuardedRunner(app, config.limits, access_log=None)
        await runner.setup()
        # what is alive now (the config, the inventory's index, the app) lives as long as serve: out
        # of the collector's way, so its full collections under a storm walk only what requests made
        trim()  # the start-up's scratch (loading the inventory) back to the system first
        gc.freeze()
        # a storm makes thousands of short-lived objects per second: the default young generation
        # (700) ran a collection every few requests; 10,000 is still a small heap of young objects
        gc.set_threshold(10_000, 10, 10)
        host, port = config.listen_host_port
        try:
            await web.TCPSite(runner, host, port).start()
        except OSError as exc:
            raise ResponderError(f"cannot listen on {config.listen}: {exc.strerror or exc}") from None
        if supervisor:
            supervisor.start()
        log.info("listening on http://%s:%d with %d workers", host, port, workers)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)
            if keeper:
                keeper.check()
            if supervisor:
                supervisor.check()
    finally:
        if supervisor:
            supervisor.stop()
        if runner:
            await runner.cleanup()
        if keeper:
            await keeper.stop()


def run(config: Config, config_path: str | None, workers: int) -> None:
    """Serve until interrupted; logging is configured by the caller (runtime/logs), redacted here."""
    install_log_redaction(config)
    run_loop(_serve(config, config_path, workers))
