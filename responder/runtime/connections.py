"""Connections that a slow or hostile client cannot hold: serve's aiohttp runner, guarded.

aiohttp has keep-alive and no head timeout of its own, so a client that sends its request head a byte
at a time, a thousand times over, used to hold a file descriptor each until the process ran out and
the hooks stopped answering. Here every connection must finish its first request head within
`limits.header_timeout`; at most `limits.max_pending` connections may be sending a head at once (a
new one closes the oldest, so a flood of slow clients cannot lock out a sender that talks at normal
speed); a kept-alive connection with no new request is closed after `limits.idle_timeout` (aiohttp's
keep-alive timer, which also closes one that dribbles its next head). Bodies are bounded by
`limits.body_timeout` in the hooks.

A malformed request or a client that goes away is one INFO line and never a traceback, and the 400
answer never repeats what the client sent (a bad `Authorization` header would otherwise be logged and
echoed with its token).
"""

from __future__ import annotations

import asyncio
import logging
import resource
import socket
from http import HTTPStatus
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestHandler, RequestPayloadError
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse
from aiohttp.web_server import Server

from responder.config import LimitsConfig

log = logging.getLogger("responder.connections")
CLIENT_FAULTS = (HttpProcessingError, RequestPayloadError, ConnectionError, asyncio.IncompleteReadError)


class _Tally:
    """Counts closed slow connections and says so at most once every `every` seconds: one line, not 2,000."""

    def __init__(self, every: float = 10.0) -> None:
        self.every = every
        self.counts: dict[str, int] = {}
        self.last = 0.0

    def add(self, loop: asyncio.AbstractEventLoop, why: str) -> None:
        self.counts[why] = self.counts.get(why, 0) + 1
        now = loop.time()
        if now - self.last >= self.every:
            said = ", ".join(f"{n} {what}" for what, n in sorted(self.counts.items()))
            log.info("closed slow connections: %s", said)
            self.counts.clear()
            self.last = now


class GuardedServer(Server):
    """aiohttp's Server, making GuardedHandlers and keeping the connections still sending a head."""

    header_timeout: float
    max_pending: int
    pending: dict[GuardedHandler, None]
    tally: _Tally

    def guard(self, limits: LimitsConfig) -> None:
        self.header_timeout = limits.header_timeout
        self.max_pending = pending_cap(limits)
        self.pending = {}
        self.tally = _Tally()

    def __call__(self) -> RequestHandler:
        return GuardedHandler(self, loop=self._loop, **self._kwargs)

    def admit(self, handler: GuardedHandler) -> bool:
        """Make room for a new connection by shedding the oldest slow one (`_victim`); when every one
        has its whole head waiting to be read, the newcomer is refused instead, unless its own is too."""
        if len(self.pending) >= self.max_pending and head_waiting(handler.transport):
            self.pending[handler] = None
            return True
        while len(self.pending) >= self.max_pending:
            victim = self._victim()
            if victim is None:
                self.tally.add(self._loop, "refused: too many connections sending a request head")
                return False
            self.forget(victim)
            self.tally.add(self._loop, "shed: over the cap of connections sending a request head")
            victim.force_close()
        self.pending[handler] = None
        return True

    def _victim(self) -> GuardedHandler | None:
        """The oldest connection that has sent part of a head and not all of it (read already, or waiting
        in its socket); else the oldest that has sent nothing; never one whose whole head is waiting."""
        quiet = None
        for h in self.pending:
            if h.heard and not head_waiting(h.transport):
                return h
            data = b"" if h.heard else waiting(h.transport)
            if data and b"\r\n\r\n" not in data:
                return h
            if not data and not h.heard and quiet is None:
                quiet = h
        return quiet

    def forget(self, handler: GuardedHandler) -> None:
        self.pending.pop(handler, None)
        handler.cancel_head_timer()


def waiting(transport: asyncio.BaseTransport | None) -> bytes:
    """What is in the socket's receive buffer and not read yet (looked at, not taken)."""
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is None:
        return b""
    peek = socket.socket(sock.family, sock.type, fileno=sock.fileno())
    try:
        return peek.recv(16 * 1024, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except OSError:
        return b""
    finally:
        peek.detach()  # the fd stays the transport's


def head_waiting(transport: asyncio.BaseTransport | None) -> bool:
    """Whether a whole request head is waiting in the socket: a client talking at normal speed."""
    return b"\r\n\r\n" in waiting(transport)


def pending_cap(limits: LimitsConfig) -> int:
    """`limits.max_pending`, but never more than a quarter of the open-file limit: room stays for the
    store, the workers and the senders that talk at normal speed."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft <= 0:
        return limits.max_pending
    return max(1, min(limits.max_pending, soft // 4))


class GuardedHandler(RequestHandler):
    """One connection: closed when its first request head is late; client faults logged as one line."""

    _head_timer: asyncio.TimerHandle | None = None
    heard = False  # some of its head has arrived

    def _guard(self) -> GuardedServer | None:
        manager = self._manager
        return manager if isinstance(manager, GuardedServer) else None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        server = self._guard()
        if server is not None:
            if not server.admit(self):
                self.force_close()
                return
            self._head_timer = self._loop.call_later(server.header_timeout, self._head_late)

    def _head_late(self) -> None:
        self._head_timer = None
        server = self._guard()
        if server is not None and self in server.pending:
            server.forget(self)
            server.tally.add(self._loop, f"without a request head in {server.header_timeout:g}s")
            self.force_close()

    def cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def data_received(self, data: bytes) -> None:
        self.heard = True
        before = self._request_count
        super().data_received(data)
        if self._request_count > before:
            server = self._guard()
            if server is not None:
                server.forget(self)

    def connection_lost(self, exc: BaseException | None) -> None:
        server = self._guard()
        if server is not None:
            server.forget(self)
        super().connection_lost(exc)

    def log_exception(self, *args: Any, **kw: Any) -> None:
        exc = kw.get("exc_info")
        if isinstance(exc, CLIENT_FAULTS):
            remote = self.transport.get_extra_info("peername") if self.transport is not None else None
            log.info("a bad or broken request from %s: %s", remote[0] if remote else "?", type(exc).__name__)
            return
        super().log_exception(*args, **kw)

    def handle_error(self, request: BaseRequest, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> StreamResponse:
        """A request aiohttp could not parse: a JSON answer that names the status, never the input."""
        if status >= 500 or not isinstance(exc, CLIENT_FAULTS):
            return super().handle_error(request, status, exc, None)
        log.info("a malformed request from %s: %s", request.remote, type(exc).__name__)
        if request.writer.output_size > 0:
            raise ConnectionError("the answer had begun; the connection is dropped")
        phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Bad Request"
        resp = web.json_response({"error": f"malformed HTTP request ({phrase})"}, status=status)
        resp.force_close()
        return resp


class GuardedRunner(web.AppRunner):
    """An AppRunner whose connections are guarded as this module says."""

    def __init__(self, app: web.Application, limits: LimitsConfig, **kwargs: Any) -> None:
        kwargs.setdefault("keepalive_timeout", limits.idle_timeout)
        super().__init__(app, **kwargs)
        self._limits = limits

    async def _make_server(self) -> Server:
        server = await super()._make_server()
        server.__class__ = GuardedServer  # the same object, making guarded handlers from now on
        assert isinstance(server, GuardedServer)
        server.guard(self._limits)
        return server
