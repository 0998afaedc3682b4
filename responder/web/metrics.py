"""GET /metrics (Prometheus text), /healthz and /readyz."""

from __future__ import annotations

import asyncio

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from responder.web.context import CONTEXT


async def metrics(request: web.Request) -> web.Response:
    m = request.app[CONTEXT].metrics
    body = await asyncio.get_running_loop().run_in_executor(None, generate_latest, m.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


async def readyz(request: web.Request) -> web.Response:
    store = request.app[CONTEXT].store
    ok = await asyncio.get_running_loop().run_in_executor(None, store.ping)
    return web.json_response({"ok": ok, "store": "up" if ok else "down"}, status=200 if ok else 503)


def setup(app: web.Application) -> None:
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
