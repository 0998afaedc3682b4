"""Responder's own web app on a loopback port, inside the test's process: the pages and login tests
reach it as a browser or a client would, over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

from responder.config import Config
from responder.store import Store
from responder.web.app import make_app
from tests.support.fleet import free_port


@asynccontextmanager
async def app_site(cfg: Config, store: Store, port: int | None = None) -> AsyncIterator[str]:
    """Serve `make_app(cfg, store)` on `port` (a free one by default) until the block ends; yield its base URL."""
    port = port or free_port()
    runner = web.AppRunner(make_app(cfg, store), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", port).start()
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
