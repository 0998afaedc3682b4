"""Builds the aiohttp application and holds what its handlers share (config, store, metrics)."""

from __future__ import annotations

import ipaddress
import logging
from typing import Any

from aiohttp import web

from responder.config import Config
from responder.intake.grouping import Intake
from responder.runtime.queues import assess_scheduler
from responder.store import Store
from responder.web import api, auth, hooks, metrics, pages, share
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


def loopback(host: str) -> bool:
    """Whether only this machine can reach `host` (a name other than localhost may resolve anywhere)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def make_app(config: Config, store: Store) -> web.Application:
    m = Metrics(store)
    middlewares: list[Any] = [json_errors]
    if config.auth.users:
        logins = auth.Logins(config.auth.users, on_failure=m.login_failed)
        middlewares.append(auth.middleware(logins, config.auth.metrics))
    app = web.Application(middlewares=middlewares, client_max_size=config.limits.max_body + 1024,
                          handler_args=hooks.HANDLER_ARGS)
    ctx = Context(config=config, store=store, intake=Intake(store, config, assess_scheduler(store.r)), metrics=m)
    app[CONTEXT] = ctx
    hooks.setup(app)
    api.setup(app)
    pages.setup(app)
    share.setup(app)
    metrics.setup(app)
    if not config.auth.tokens:
        log.warning("NO AUTH TOKENS CONFIGURED: /hooks/* accept alerts from anyone who can reach %s",
                    config.listen)
    if not config.auth.users and not loopback(config.listen_host_port[0]):
        log.warning("NO LOGINS CONFIGURED (auth.users): the pages and /api/* show every client's incidents "
                    "to anyone who can reach %s; see README, Keeping the pages private", config.listen)
    return app
