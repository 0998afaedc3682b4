"""POST /hooks/{source}: authenticate, bound, parse, store durably, then answer 202.

Answers: 202 stored; 400 malformed (the JSON body names the field); 401 bad token; 413 too large;
415 not JSON; 503 + Retry-After when the store is down, so Alertmanager retries (it never retries 4xx).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiohttp import web

from responder.errors import PayloadError, StoreUnavailable
from responder.intake.sources import SOURCES, parser_for
from responder.runtime import logs
from responder.web.context import CONTEXT, Context

log = logging.getLogger("responder.hooks")
RETRY_AFTER = "5"
# intake threads mostly wait for Redis's fsync; with many in flight Redis syncs them together, so
# more threads than the default pool's (cores + 4) is what lets 50 senders through at once
INTAKE_THREADS = ThreadPoolExecutor(max_workers=32, thread_name_prefix="intake")


def _error(status: int, message: str, field: str | None = None, **headers: str) -> web.Response:
    body: dict[str, Any] = {"error": message}
    if field is not None:
        body["field"] = field
    return web.json_response(body, status=status, headers=headers or None)


def authorized(request: web.Request, tokens: list[str]) -> bool:
    if not tokens:
        return True
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not given:
        return False
    given_b = given.strip().encode()
    return any(hmac.compare_digest(given_b, t.encode()) for t in tokens)


def is_json(content_type: str) -> bool:
    ct = content_type.lower()
    return ct == "application/json" or (ct.startswith("application/") and ct.endswith("+json"))


async def read_bounded(request: web.Request, limit: int) -> bytes | None:
    """The body, or None when it is over the limit (read no further than limit + 1 bytes)."""
    if request.content_length is not None and request.content_length > limit:
        return None
    chunks = []
    size = 0
    while True:
        chunk = await request.content.read(64 * 1024)
        if not chunk:
            break
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def receive(request: web.Request) -> web.Response:
    ctx: Context = request.app[CONTEXT]
    source = request.match_info["source"]
    if source not in SOURCES:
        return _error(404, f"unknown source {source!r}; expected one of {', '.join(SOURCES)}")
    m = ctx.metrics
    if not authorized(request, ctx.config.auth.tokens):
        m.hook(source, 401)
        return _error(401, "missing or bad bearer token", **{"WWW-Authenticate": 'Bearer realm="responder"'})
    if not is_json(request.content_type):
        m.hook(source, 415)
        return _error(415, f"expected Content-Type application/json, got {request.content_type or 'none'!r}")
    limit = ctx.config.limits.max_body
    body = await read_bounded(request, limit)
    if body is None:
        m.hook(source, 413)
        return _error(413, f"the body is larger than the limit of {limit} bytes")
    try:
        batch = parser_for(source)(body)
    except PayloadError as exc:
        m.hook(source, 400)
        return _error(400, str(exc), field=exc.field)
    meta = {"remote": request.remote, "user_agent": request.headers.get("User-Agent", "")}
    try:
        loop = asyncio.get_running_loop()
        accepted = await loop.run_in_executor(INTAKE_THREADS, ctx.intake.accept, batch, body, meta)
    except StoreUnavailable as exc:
        log.error("store unavailable, answering 503: %s", exc)
        m.hook(source, 503)
        return _error(503, "the store is unavailable; retry later", **{"Retry-After": RETRY_AFTER})
    m.hook(source, 202)
    m.alerts(source, batch.alerts)
    for _ in logs.each(accepted.incidents):  # one line per incident the delivery touched, naming it
        log.info("%s delivery from %s: %d alerts, %d duplicates", source, request.remote, accepted.accepted,
                 accepted.duplicates)
    answer: dict[str, Any] = {"accepted": accepted.accepted, "incidents": accepted.incidents}
    if accepted.duplicates:
        answer["duplicates"] = accepted.duplicates
    if batch.warnings:
        answer["warnings"] = batch.warnings
    return web.json_response(answer, status=202)


async def _recover(app: web.Application) -> Any:
    """Every second: queue the assessments a receiver asked for but died before queueing (any receiver
    on this Redis may take them; each is queued once)."""
    ctx: Context = app[CONTEXT]
    loop = asyncio.get_running_loop()

    async def sweep() -> None:
        while True:
            try:
                await loop.run_in_executor(None, ctx.intake.recover)
            except StoreUnavailable:
                pass
            except Exception:  # the sweep must outlive any one failure
                log.exception("the intake recovery sweep failed; trying again")
            await asyncio.sleep(1.0)

    task = asyncio.create_task(sweep())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def setup(app: web.Application) -> None:
    app.router.add_post("/hooks/{source}", receive)
    app.cleanup_ctx.append(_recover)
