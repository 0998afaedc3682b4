"""`responder serve`: the web app, the embedded Redis when none is configured, and supervised workers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from pathlib import Path

from aiohttp import web

from responder.config import Config, log_level
from responder.errors import ResponderError
from responder.runtime.embedded import EmbeddedRedis, redis_url
from responder.runtime.supervisor import Supervisor
from responder.store import Store, connect
from responder.web.app import make_app

log = logging.getLogger("responder.serve")


async def _serve(config: Config, config_path: str | None, workers: int) -> None:
    embedded: EmbeddedRedis | None = None
    url = redis_url(config)
    if url is None:
        embedded = EmbeddedRedis(Path(config.state_dir))
        embedded.start()
        url = embedded.url
        log.info("embedded Redis at %s (data in %s)", url, Path(config.state_dir) / "redis")
    supervisor = Supervisor(workers, config_path, url) if workers else None
    runner: web.AppRunner | None = None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        store = Store(connect(url))
        app = make_app(config, store)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
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
            if embedded and embedded.process and embedded.process.poll() is not None:
                log.error("the embedded Redis exited; restarting it (its data is on disk)")
                embedded.start()
            if supervisor:
                supervisor.check()
    finally:
        if supervisor:
            supervisor.stop()
        if runner:
            await runner.cleanup()
        if embedded:
            embedded.stop()


def run(config: Config, config_path: str | None, workers: int) -> None:
    logging.basicConfig(level=log_level(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    asyncio.run(_serve(config, config_path, workers))
