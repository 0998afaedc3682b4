"""HTTP checks: each distinct request once, through one shared aiohttp session, in passes.

Clients that share a server and a service URL share its request: `Request` is what goes on the wire
(connect address, port, scheme, path, Host, SNI, TLS checking) plus what a passing answer looks like,
and its one `Check` is handed to every target that asked for it.

A dead server must not eat the budget. The connect phase has its own short `connect_timeout`; the
answer's `timeout` starts only once the connection stands (and neither counts the wait for a slot, nor
the time this process's event loop was too busy to look: `_Stalls`).
Retries come in later passes, after every first attempt, so a check that never answers holds a slot for
one timeout at a time and never blocks the others. Slots are cheap (a waiting socket costs a file
descriptor and a few kilobytes), so concurrency is high, but kept below the open-file limit.

Each request connects to the server's address and sends the URL's own host as Host and TLS SNI, like
`curl --resolve`.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import resource
import ssl
import time
from collections.abc import Callable, Iterator, Sequence

import aiohttp
from aiohttp.client_reqrep import ClientRequest
from aiohttp.connector import Connection
from aiohttp.tracing import Trace

from responder.config import ProbeConfig
from responder.inventory import Target
from responder.model.verdict import Check, built
from workers.assess.requests import Request, Result, distinct, for_target, per_target, request_key

BODY_LIMIT = 1024 * 1024
# file descriptors kept free for everything that is not a probe: Redis, logs, SSH, the event loop
FD_HEADROOM = 256


def open_file_limit() -> int:
    """Raise this process's soft open-file limit to the hard one (each waiting probe holds a socket)
    and return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft == resource.RLIM_INFINITY:
        return 1 << 20
    if soft < want:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
            soft = want
    return soft


def slots(cfg: ProbeConfig) -> int:
    """Requests in flight at once: the configured concurrency, capped below the open-file limit."""
    return max(1, min(cfg.concurrency, open_file_limit() - FD_HEADROOM))


def _check(server: str, url: str, ok: bool, *, status: int | None = None, error: str | None = None,
           latency_ms: float | None = None, slow: bool = False, attempts: int = 1) -> Check:
    return built(Check, server=server, url=url, ok=ok, status=status, error=error, latency_ms=latency_ms,
                 slow=slow, attempts=attempts)


def _describe(exc: BaseException, cfg: ProbeConfig, connected: bool) -> str:
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        if connected:
            return f"no answer within {cfg.timeout:g}s"
        return f"cannot connect within {cfg.connect_timeout:g}s"
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
    return f"{type(exc).__name__}: {exc}"


class _Stalls:
    """How long this process's event loop could not run, summed: a ticker that is late by `x` means
    every timer was `x` late too. Under CPU starvation (thousands of connections finishing at once on
    a busy machine) a loopback connect that took 1 ms was seen after 2 s and judged dead; deadlines
    here count only time the loop was free to see the answer."""

    TICK = 0.05

    def __init__(self) -> None:
        self.lost = 0.0
        self.task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            start = loop.time()
            await asyncio.sleep(self.TICK)
            late = loop.time() - start - self.TICK
            if late > 0.005:
                self.lost += late

    async def __aenter__(self) -> _Stalls:
        self.task = asyncio.get_running_loop().create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task


class _Phase:
    """Per request: its deadline, first the connect timeout, then (once the connection stands) the
    answer timeout; either one moved later by the loop's stalls meanwhile (`_Stalls`)."""

    __slots__ = ("connected", "due", "handle", "lost", "scope", "stalls", "timeout")

    def __init__(self, scope: asyncio.Timeout, stalls: _Stalls, connect_timeout: float, timeout: float) -> None:
        self.scope = scope
        self.stalls = stalls
        self.timeout = timeout
        self.connected = False
        self.handle: asyncio.TimerHandle | None = None
        self.lost = self.due = 0.0
        self._arm(connect_timeout)

    def _arm(self, seconds: float) -> None:
        if self.handle is not None:
            self.handle.cancel()
        self.lost = self.stalls.lost
        loop = asyncio.get_running_loop()
        self.due = loop.time() + seconds
        self.handle = loop.call_at(self.due, self._due)

    def _due(self) -> None:
        # the stalls the ticker saw during the wait, or this timer's own lateness (a stall that just
        # ended: the ticker counts it only on its next round, after this timer ran)
        stalled = max(self.stalls.lost - self.lost, asyncio.get_running_loop().time() - self.due)
        if stalled > 0.01:  # the loop lost that much of the wait: give it back
            self._arm(stalled)
        else:
            self.handle = None
            self.scope.reschedule(asyncio.get_running_loop().time())  # expire now

    def connection_ready(self) -> None:
        self.connected = True
        self._arm(self.timeout)

    def done(self) -> None:
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None


# At most STARTING requests are young at once; one that has waited STARTING_FOR seconds stops
# counting. Every slot starting together (2,000 connections before the loop read one answer) held
# ~15 KB per request in flight: 30 MB a worker at the start of every shard, for healthy answers that
# take milliseconds. Now the slots fill with what waits (the hung servers) and the healthy requests
# pass through a few hundred at a time, which is all the CPU can answer anyway.
STARTING = 250
STARTING_FOR = 0.1


class _Admitted:
    __slots__ = ("handle", "held", "sem")

    def __init__(self, sem: asyncio.Semaphore, after: float) -> None:
        self.sem, self.held = sem, True
        self.handle = asyncio.get_running_loop().call_later(after, self.leave)

    def leave(self) -> None:
        if self.held:
            self.held = False
            self.handle.cancel()
            self.sem.release()


class _Starting:
    """The young requests' turnstile (see STARTING)."""

    def __init__(self, width: int, young_for: float) -> None:
        self.sem = asyncio.Semaphore(width)
        self.young_for = young_for

    async def admit(self) -> _Admitted:
        await self.sem.acquire()
        return _Admitted(self.sem, self.young_for)


# the phase of the request this task is sending (each probe slot is its own task)
_PHASE: contextvars.ContextVar[_Phase | None] = contextvars.ContextVar("probe_phase", default=None)


class _Connector(aiohttp.TCPConnector):
    """Moves the request to its answer deadline once its connection stands, new (TCP and TLS done)
    or reused. aiohttp's tracing did this too, but its signals cost every request several awaits."""

    async def connect(self, req: ClientRequest, traces: list[Trace], timeout: aiohttp.ClientTimeout) -> Connection:
        conn = await super().connect(req, traces, timeout)
        phase = _PHASE.get()
        if phase is not None:
            phase.connection_ready()
        return conn


async def _attempt(session: aiohttp.ClientSession, r: Request, cfg: ProbeConfig, attempt: int,
                   verified: ssl.SSLContext | None, insecure: ssl.SSLContext | None, stalls: _Stalls) -> Check:
    headers = {"Host": r.host_header} if r.host_header else None
    started = time.perf_counter()
    phase: _Phase | None = None
    try:
        async with asyncio.timeout(None) as scope:
            phase = _Phase(scope, stalls, cfg.connect_timeout, cfg.timeout)
            _PHASE.set(phase)
            async with session.get(
                r.connect_url, headers=headers, allow_redirects=False,
                server_hostname=r.server_hostname, ssl=(verified if r.verify_tls else insecure) or True,
            ) as resp:
                body = await resp.content.read(BODY_LIMIT) if r.expect.body_contains else b""
                latency = (time.perf_counter() - started) * 1000.0
                status = resp.status
    except Exception as exc:
        return _check(r.server, r.url, False, error=_describe(exc, cfg, phase is not None and phase.connected),
                      latency_ms=round((time.perf_counter() - started) * 1000.0, 1), attempts=attempt)
    finally:
        if phase is not None:
            phase.done()
    error = None
    if not r.expect.status_ok(status):
        error = f"HTTP {status}"
    elif r.expect.body_contains and r.expect.body_contains not in body.decode("utf-8", "replace"):
        error = f"the page lacks {r.expect.body_contains!r}"
    slow = bool(error is None and r.expect.max_ms and latency > r.expect.max_ms)
    return _check(r.server, r.url, error is None, status=status, error=error, latency_ms=round(latency, 1),
                  slow=slow, attempts=attempt)


def _contexts(cfg: ProbeConfig) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """The verifying TLS context (with the extra CA file) and the one for `verify_tls: false`."""
    verified = ssl.create_default_context()
    if cfg.ca_file:
        verified.load_verify_locations(cfg.ca_file)
    insecure = ssl.create_default_context()
    insecure.check_hostname = False
    insecure.verify_mode = ssl.CERT_NONE
    return verified, insecure


async def probe_requests(requests: Sequence[Request], cfg: ProbeConfig,
                         on_check: Callable[[Request, Check], None] | None = None) -> dict[str, Check]:
    """Send every request, then retry the failures in up to `retries` further passes; the answer maps
    request keys to their final check. `on_check` hears each request as soon as its check is final."""
    if not requests:
        return {}
    width = slots(cfg)
    # loading the CA bundle costs ~0.1 s before the first request: only when some request needs TLS
    tls = any(r.connect_url[:5].lower() != "http:" for r in requests)
    verified, insecure = _contexts(cfg) if tls else (None, None)
    # force_close: a kept-alive connection is idle for the rest of the fan-out (each request is sent
    # once), and 10,000s of them ran out of file descriptors and held 100s of MB
    connector = _Connector(limit=width, limit_per_host=0, ttl_dns_cache=300, force_close=True)
    timeout = aiohttp.ClientTimeout(total=None, connect=None, sock_connect=None, sock_read=None)
    final: dict[str, Check] = {}
    async with aiohttp.ClientSession(connector=connector, timeout=timeout,
                                     headers={"User-Agent": cfg.user_agent}) as session, _Stalls() as stalls:

        starting = _Starting(STARTING, STARTING_FOR)

        async def slot(todo: Iterator[Request], attempt: int, last: bool) -> None:
            # `width` slots take the next request as they free up: no task, semaphore wait or frame
            # per request parked for the whole pass (40,000 of those cost 100s of MB and much CPU)
            for r in todo:
                admitted = await starting.admit()
                try:
                    check = await _attempt(session, r, cfg, attempt, verified, insecure, stalls)
                finally:
                    admitted.leave()
                final[r.key] = check
                if (check.ok or last) and on_check:
                    on_check(r, check)

        todo = list(requests)
        for attempt in range(1, cfg.retries + 2):
            last = attempt == cfg.retries + 1
            shared = iter(todo)
            await asyncio.gather(*(slot(shared, attempt, last) for _ in range(min(width, len(todo)))))
            todo = [r for r in todo if not final[r.key].ok]
            if not todo:
                break
    return final


async def probe(targets: Sequence[Target], cfg: ProbeConfig,
                on_result: Callable[[Result], None] | None = None) -> list[Result]:
    """Check every target, each distinct request once; the answer keeps the targets' order."""
    if not targets:
        return []
    requests, shared = distinct(targets)
    checks = await probe_requests(requests, cfg, per_target(shared, on_result) if on_result else None)
    return [Result(t, for_target(checks[request_key(t)], t)) for t in targets]
