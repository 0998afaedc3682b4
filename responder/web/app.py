"""Builds the aiohttp application and holds what its handlers share (config, store, metrics)."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from responder.config import Config
from responder.intake.grouping import Intake
from responder.runtime.queues import assess_scheduler
from responder.store import Store
from responder.web import api, hooks, metrics, pages
from responder.web.context import CONTEXT, Context
from responder.web.instruments import Metrics

log = logging.getLogger("responder.web")


@web.middleware
async def json_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """HTTP errors as JSON bodies; an unexpected exception is logged and answered 500 without a traceback."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.content_type == "application/json" or exc.status < 400:
            raise
        return web.json_response({"error": exc.reason}, status=exc.status, headers={
            k: v for k, v in exc.headers.items() if k.lower() not in ("content-type", "content-length")})
    except Exception:
        log.exception("unexpected error on %s %s", request.method, request.path)
        return web.json_response({"error": "internal error; see the server log"}, status=500)


def make_app(config: Config, store: Store) -> web.Application:
    app = web.Application(middlewares=[json_errors], client_max_size=config.limits.max_body + 1024)
    ctx = Context(config=config, store=store, intake=Intake(store, config, assess_scheduler(store.r)),
                  metrics=Metrics(store))
    app[CONTEXT] = ctx
    hooks.setup(app)
    api.setup(app)
    pages.setup(app)
    metrics.setup(app)
    if not config.auth.tokens:
        log.warning("NO AUTH TOKENS CONFIGURED: /hooks/* accept alerts from anyone who can reach %s",
                    config.listen)
    return app
