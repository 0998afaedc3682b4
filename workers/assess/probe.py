"""HTTP checks: every target through one shared aiohttp session with bounded concurrency.

The timeout of a check starts when it holds a concurrency slot, not when it was queued: the old
script timed the wait for a free connection too and reported thousands of healthy pages as
timeouts. Each request connects to the server's address and sends the URL's own host as Host and
TLS SNI, like `curl --resolve`.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import aiohttp

from responder.config import ProbeConfig
from responder.inventory import Target
from responder.model.verdict import Check

BODY_LIMIT = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Result:
    target: Target
    check: Check


def _describe(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return f"no answer within {timeout:g}s"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return f"TLS certificate not trusted: {exc.certificate_error}"
    if isinstance(exc, aiohttp.ClientSSLError):
        return f"TLS failed: {exc}"
    if isinstance(exc, aiohttp.ClientConnectorError):
        err = exc.os_error
        if isinstance(err, ConnectionRefusedError):
            return "connection refused"
        return f"cannot connect: {err.strerror or err}"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the server closed the connection"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return f"broken answer: {exc}"
    if isinstance(exc, aiohttp.ClientError):
        return f"{type(exc).__name__}: {exc}"
    return f"{type(exc).__name__}: {exc}"


async def _attempt(session: aiohttp.ClientSession, t: Target, timeout: float,
                   verified: ssl.SSLContext, insecure: ssl.SSLContext) -> Check:
    headers = {"Host": t.host_header} if t.host_header else {}
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            async with session.get(
                t.connect_url, headers=headers, allow_redirects=False,
                server_hostname=t.server_hostname, ssl=verified if t.verify_tls else insecure,
            ) as resp:
                body = await resp.content.read(BODY_LIMIT) if t.expect.body_contains else b""
                latency = (time.perf_counter() - started) * 1000.0
                status = resp.status
    except Exception as exc:
        return Check(server=t.server, url=t.url, ok=False, error=_describe(exc, timeout),
                     latency_ms=round((time.perf_counter() - started) * 1000.0, 1))
    error = None
    if not t.expect.status_ok(status):
        error = f"HTTP {status}"
    elif t.expect.body_contains and t.expect.body_contains not in body.decode("utf-8", "replace"):
        error = f"the page lacks {t.expect.body_contains!r}"
    slow = bool(error is None and t.expect.max_ms and latency > t.expect.max_ms)
    return Check(server=t.server, url=t.url, ok=error is None, status=status, error=error,
                 latency_ms=round(latency, 1), slow=slow)


async def probe(targets: Sequence[Target], cfg: ProbeConfig,
                on_result: Callable[[Result], None] | None = None) -> list[Result]:
    """Check every target; the answer keeps the targets' order."""
    if not targets:
        return []
    slots = asyncio.Semaphore(cfg.concurrency)
    verified = ssl.create_default_context()
    if cfg.ca_file:
        verified.load_verify_locations(cfg.ca_file)
    insecure = ssl.create_default_context()
    insecure.check_hostname = False
    insecure.verify_mode = ssl.CERT_NONE
    connector = aiohttp.TCPConnector(limit=cfg.concurrency, limit_per_host=0, ttl_dns_cache=300)
    timeout = aiohttp.ClientTimeout(total=None, connect=None, sock_connect=None, sock_read=None)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout,
                                     headers={"User-Agent": cfg.user_agent}) as session:

        async def one(t: Target) -> Result:
            check: Check | None = None
            for attempt in range(1, cfg.retries + 2):
                async with slots:
                    check = await _attempt(session, t, cfg.timeout, verified, insecure)
                check.attempts = attempt
                if check.ok:
                    break
            assert check is not None
            result = Result(t, check)
            if on_result:
                on_result(result)
            return result

        return list(await asyncio.gather(*(one(t) for t in targets)))
