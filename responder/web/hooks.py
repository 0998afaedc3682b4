"""POST /hooks/{source}: authenticate, bound, decode, parse, store durably, then answer 202.

Answers: 202 stored; 400 malformed (the JSON body names the field) or a body that does not decode;
401 bad token or signature; 408 the body did not arrive in time; 413 too large (counted after
decoding); 415 not JSON, or a Content-Encoding we do not read; 503 + Retry-After when the store is
down, so Alertmanager retries (it never retries 4xx). No answer and no log line repeats a credential.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import zlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError
from pydantic_core import to_json

from responder.errors import PayloadError, StoreUnavailable
from responder.intake.sources import SOURCES, parser_for
from responder.runtime import logs
from responder.store.intake import AsyncGroup
from responder.web.context import CONTEXT, Context

log = logging.getLogger("responder.hooks")
RETRY_AFTER = "5"
# intake threads mostly wait for Redis's fsync; with many in flight Redis syncs them together, so
# more threads than the default pool's (cores + 4) is what lets 50 senders through at once
INTAKE_THREADS = ThreadPoolExecutor(max_workers=32, thread_name_prefix="intake")
ASYNC_GROUP: web.AppKey[AsyncGroup] = web.AppKey("async_group", AsyncGroup)
SIGNATURE = "X-Responder-Signature"
# the app reads compressed bodies itself (read_decoded) so their decoded size is bounded as they unpack
HANDLER_ARGS: dict[str, Any] = {"auto_decompress": False}
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


class BodyError(Exception):
    """A body we will not read: carries the status and the reason to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _error(status: int, message: str, field: str | None = None, **headers: str) -> web.Response:
    body: dict[str, Any] = {"error": message}
    if field is not None:
        body["field"] = field
    return web.json_response(body, status=status, headers=headers or None)


def token_matches(given: str, tokens: list[str]) -> bool:
    """Compare with every token, each in constant time and without stopping at a match."""
    given_b = given.encode("utf-8", "surrogateescape")
    found = False
    for t in tokens:
        found |= hmac.compare_digest(given_b, t.encode("utf-8"))
    return found


def signature_matches(header: str, secret: str, body: bytes) -> bool:
    scheme, _, given = header.strip().partition("=")
    if scheme.lower() != "sha256" or not given:
        return False
    want = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(given.strip().lower().encode("ascii", "replace"), want.encode())


def authorized(request: web.Request, tokens: list[str]) -> bool:
    """A bearer token from the list; with no token configured anyone may post."""
    if not tokens:
        return True
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        return False
    return token_matches(given.strip(), tokens)


def is_json(content_type: str) -> bool:
    ct = content_type.lower()
    return ct == "application/json" or (ct.startswith("application/") and ct.endswith("+json"))


def encodings(request: web.Request) -> list[str]:
    """The Content-Encoding chain, in the order it was applied; raises BodyError 415 for one we lack."""
    raw = request.headers.get("Content-Encoding", "")
    chain = [e.strip().lower() for e in raw.split(",") if e.strip() and e.strip().lower() != "identity"]
    unknown = [e for e in chain if e not in _WBITS]
    if unknown or len(chain) > 2:
        raise BodyError(415, "unsupported Content-Encoding; send gzip, deflate or none")
    return chain


def decode(body: bytes, encoding: str, limit: int) -> bytes:
    """Unpack one encoding, never holding more than `limit` + 1 decoded bytes."""
    wbits = _WBITS[encoding]
    if encoding == "deflate" and (len(body) < 2 or (body[0] & 0x0F) != 8 or (body[0] << 8 | body[1]) % 31):
        wbits = -zlib.MAX_WBITS  # raw deflate, as some senders mean by it
    out: list[bytes] = []
    size = 0
    data = body
    try:
        while data:
            d = zlib.decompressobj(wbits)
            chunk = d.decompress(data, limit + 1 - size)
            while True:
                size += len(chunk)
                out.append(chunk)
                if size > limit:
                    raise BodyError(413, f"the decoded body is larger than the limit of {limit} bytes")
                if not d.unconsumed_tail:
                    break
                chunk = d.decompress(d.unconsumed_tail, limit + 1 - size)
            if not d.eof:
                raise BodyError(400, f"the {encoding} body is cut short")
            data = d.unused_data if encoding != "deflate" else b""  # gzip may have several members
    except zlib.error:
        raise BodyError(400, f"the body is not valid {encoding}") from None
    return b"".join(out)


async def read_bounded(request: web.Request, limit: int) -> bytes | None:
    """The body as sent, or None when it is over the limit (read no further than limit + 1 bytes)."""
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


async def read_body(request: web.Request, limit: int, timeout: float) -> tuple[bytes, bytes]:
    """(as sent, decoded), each within `limit` bytes and all of it within `timeout` seconds."""
    chain = encodings(request)
    if request.content.is_eof():  # all of it has arrived and is buffered (most bodies): take it
        too_long = request.content_length is not None and request.content_length > limit
        raw = None if too_long else request.content.read_nowait()
        if raw is not None and len(raw) > limit:
            raw = None
    else:
        try:
            async with asyncio.timeout(timeout):
                raw = await read_bounded(request, limit)
        except TimeoutError:
            raise BodyError(408, f"the body did not arrive within {timeout:g}s") from None
    if raw is None:
        raise BodyError(413, f"the body is larger than the limit of {limit} bytes")
    body = raw
    for encoding in reversed(chain):
        body = decode(body, encoding, limit)
    return raw, body


def _refuse(source: str, ctx: Context, request: web.Request, raw: bytes) -> web.Response | None:
    """401 unless a configured token or a good signature vouches for the request."""
    auth = ctx.config.auth
    if not auth.required:
        return None
    tokens = auth.for_source(source)
    if tokens and authorized(request, tokens):
        return None
    signature = request.headers.get(SIGNATURE)
    if auth.hmac_secret and signature is not None and signature_matches(signature, auth.hmac_secret, raw):
        return None
    ctx.metrics.hook(source, 401)
    log.info("refused a delivery to /hooks/%s from %s: no good token or signature", source, request.remote)
    return _error(401, "missing or bad bearer token or signature",
                  **{"WWW-Authenticate": 'Bearer realm="responder"'})


async def receive(request: web.Request) -> web.StreamResponse:
    ctx: Context = request.app[CONTEXT]
    source = request.match_info["source"]
    if source not in SOURCES:
        return _error(404, f"unknown source; expected one of {', '.join(SOURCES)}")
    m = ctx.metrics
    auth = ctx.config.auth
    signed = bool(auth.hmac_secret) and SIGNATURE in request.headers
    if not signed:  # a signed request is judged once its body is here; a bearer one before reading it
        refused = _refuse(source, ctx, request, b"")
        if refused is not None:
            refused.force_close()
            return refused
    if not is_json(request.content_type):
        m.hook(source, 415)
        return _error(415, "expected Content-Type application/json")
    limit = ctx.config.limits.max_body
    try:
        raw, body = await read_body(request, limit, ctx.config.limits.body_timeout)
    except BodyError as exc:
        m.hook(source, exc.status)
        refusal = _error(exc.status, str(exc))
        if exc.status in (408, 413):
            refusal.force_close()  # the rest of the body is not worth reading
        return refusal
    except (RequestPayloadError, ConnectionError) as exc:
        log.info("a delivery to /hooks/%s from %s broke off mid-body (%s)", source, request.remote,
                 type(exc).__name__)
        return _error(400, "the body broke off")
    if signed:
        refused = _refuse(source, ctx, request, raw)
        if refused is not None:
            return refused
    try:
        batch = parser_for(source)(body)
    except PayloadError as exc:
        m.hook(source, 400)
        return _error(400, str(exc), field=exc.field)
    meta = {"remote": request.remote, "user_agent": request.headers.get("User-Agent", "")}
    try:
        group = request.app.get(ASYNC_GROUP)
        if group is not None:
            accepted = await ctx.intake.accept_async(group, batch, body, meta)
        else:
            loop = asyncio.get_running_loop()
            accepted = await loop.run_in_executor(INTAKE_THREADS, ctx.intake.accept, batch, body, meta)
    except StoreUnavailable:
        log.warning("store unavailable, answering 503 to /hooks/%s", source)
        m.hook(source, 503)
        return _error(503, "the store is unavailable; retry later", **{"Retry-After": RETRY_AFTER})
    m.hook(source, 202)
    m.alerts(source, batch.alerts)
    # one line per incident the delivery touched, naming it: INFO when it opened one or asked for an
    # assessment, DEBUG for the rest of a storm (thousands of deliveries that only join an incident)
    level = logging.INFO if accepted.opened or accepted.asked else logging.DEBUG
    if log.isEnabledFor(level):
        for _ in logs.each(accepted.incidents):
            log.log(level, "%s delivery from %s: %d alerts, %d duplicates", source, request.remote,
                    accepted.accepted, accepted.duplicates)
    answer: dict[str, Any] = {"accepted": accepted.accepted, "incidents": accepted.incidents}
    if accepted.duplicates:
        answer["duplicates"] = accepted.duplicates
    if batch.warnings:
        answer["warnings"] = batch.warnings
    # the answer's bytes at once: json_response (json.dumps, then the text encoded) took twice as long
    return web.Response(body=to_json(answer), status=202, content_type="application/json", charset="utf-8")


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


async def _async_group(app: web.Application) -> Any:
    """The grouping script on an asyncio Redis client for this app's event loop (a thread per
    delivery cost more than the script itself); without one, deliveries go to INTAKE_THREADS."""
    group = app[CONTEXT].store.async_group()
    if group is not None:
        app[ASYNC_GROUP] = group
    yield
    if group is not None:
        await group.aclose()


def setup(app: web.Application) -> None:
    app.router.add_post("/hooks/{source}", receive)
    app.cleanup_ctx.append(_async_group)
    app.cleanup_ctx.append(_recover)
