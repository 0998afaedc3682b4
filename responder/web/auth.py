"""Logins for the pages and the API: HTTP basic auth against `auth.users` (name → bcrypt hash).

Everything the app serves needs a login once users are configured, except what has its own
credential or none by design: `/healthz` and `/readyz` (probes), `/hooks/*` (bearer tokens),
signed client links (their signature) and `/metrics` unless `auth.metrics` is set. The decision is
made on the matched route, not the raw path, so a path spelled oddly (or a route added later) is
behind the login by default.

bcrypt is slow on purpose: each check runs in a thread, a few at a time, and a credential that
passed is remembered briefly (by a salted digest, never the password) so a page's requests do not
each pay for one. Failed logins are counted in /metrics; a client address that keeps failing is
answered more and more slowly.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import logging
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import bcrypt
from aiohttp import web

log = logging.getLogger("responder.auth")
REALM = 'Basic realm="Responder", charset="UTF-8"'
OPEN_ROUTES = frozenset({"/healthz", "/readyz", "/hooks/{source}", "/share/{incident}/{client}"})
METRICS_ROUTE = "/metrics"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def parse_basic(header: str) -> tuple[str, str] | None:
    """(name, password) from an `Authorization: Basic …` header, or None when it is not one."""
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic" or not encoded.strip():
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    name, sep, password = decoded.partition(":")
    return (name, password) if sep else None


def checkpw(password: str, hashed: str) -> bool:
    """bcrypt's verdict; `htpasswd -B` writes $2y$, which is $2b$ under another name."""
    if hashed.startswith("$2y$"):
        hashed = "$2b$" + hashed[4:]
    try:
        return bcrypt.checkpw(password.encode("utf-8", "surrogatepass"), hashed.encode())
    except ValueError:  # longer than bcrypt's 72 bytes, or a hash it cannot read
        return False


@dataclass
class Throttle:
    """Failures per client address in a sliding window; past `limit` of them each further attempt
    waits, doubling up to `max_delay`. Pure: the caller passes `now` and does the waiting."""

    limit: int = 5
    window: float = 60.0
    max_delay: float = 8.0
    first_delay: float = 0.5
    max_addresses: int = 10000
    _failures: dict[str, deque[float]] = field(default_factory=dict)

    def _recent(self, address: str, now: float) -> deque[float]:
        q = self._failures.get(address)
        if q is None:
            return deque()
        while q and q[0] <= now - self.window:
            q.popleft()
        if not q:
            del self._failures[address]
        return q

    def delay(self, address: str, now: float) -> float:
        n = len(self._recent(address, now))
        if n < self.limit:
            return 0.0
        return min(self.max_delay, self.first_delay * 2 ** (n - self.limit))

    def failed(self, address: str, now: float) -> None:
        if len(self._failures) >= self.max_addresses:
            for a in [a for a, q in self._failures.items() if not q or q[-1] <= now - self.window]:
                del self._failures[a]
            if len(self._failures) >= self.max_addresses:  # a flood of addresses: forget the oldest
                del self._failures[next(iter(self._failures))]
        q = self._failures.setdefault(address, deque())
        q.append(now)
        while len(q) > 4 * self.limit:  # enough to reach max_delay; no more is kept
            q.popleft()


class Logins:
    """Checks credentials against `auth.users`; remembers recent successes for `remember` seconds."""

    def __init__(self, users: dict[str, str], on_failure: Callable[[str], None] | None = None,
                 remember: float = 60.0, throttle: Throttle | None = None, parallel: int = 2) -> None:
        self.users = dict(users)
        self.on_failure = on_failure or (lambda _reason: None)
        self.remember = remember
        self.throttle = throttle or Throttle()
        self._salt = secrets.token_bytes(16)  # per process: the cache's keys mean nothing elsewhere
        self._passed: dict[bytes, float] = {}
        self._slots = asyncio.Semaphore(parallel)  # bcrypt is CPU: a burst must not take every core

    def _digest(self, name: str, password: str) -> bytes:
        raw = b"\0".join(p.encode("utf-8", "surrogatepass") for p in (name, password, self.users.get(name, "")))
        return hashlib.sha256(self._salt + raw).digest()

    def _remembered(self, key: bytes, now: float) -> bool:
        until = self._passed.get(key)
        if until is None:
            return False
        if until <= now:
            del self._passed[key]
            return False
        return True

    async def check(self, header: str, address: str) -> str | None:
        """The user's name when the header carries a valid login, else None (a failure is counted)."""
        found = parse_basic(header)
        if found is None:
            if header:
                self._fail("malformed", address)
            return None
        name, password = found
        key = self._digest(name, password)
        now = time.monotonic()
        if self._remembered(key, now):
            return name
        wait = self.throttle.delay(address, now)
        if wait:
            await asyncio.sleep(wait)
        known = name in self.users
        # an unknown name costs as much as a known one: the answer's timing does not tell names apart
        hashed = self.users[name] if known else next(iter(self.users.values()))
        async with self._slots:
            ok = await asyncio.get_running_loop().run_in_executor(None, checkpw, password, hashed)
        if ok and known:
            if len(self._passed) > 4096:
                self._passed.clear()
            self._passed[key] = time.monotonic() + self.remember
            return name
        self._fail("password" if known else "unknown_user", address)
        return None

    def _fail(self, reason: str, address: str) -> None:
        self.throttle.failed(address, time.monotonic())
        self.on_failure(reason)
        log.warning("failed login from %s (%s)", address, reason.replace("_", " "))


def _challenge(request: web.Request) -> web.Response:
    headers = {"WWW-Authenticate": REALM, "Cache-Control": "no-store"}
    if request.path.startswith("/api/") or request.path == METRICS_ROUTE:
        return web.json_response({"error": "login required"}, status=401, headers=headers)
    return web.Response(text="<!DOCTYPE html><title>Login required</title><h1>Login required</h1>",
                        content_type="text/html", status=401, headers=headers)


def is_open(request: web.Request, metrics_need_login: bool) -> bool:
    route = request.match_info.route.resource
    canonical = route.canonical if route is not None else None
    if canonical == METRICS_ROUTE:
        return not metrics_need_login
    return canonical in OPEN_ROUTES


def middleware(logins: Logins, metrics_need_login: bool) -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def require_login(request: web.Request, handler: Handler) -> web.StreamResponse:
        if is_open(request, metrics_need_login):
            return await handler(request)
        user = await logins.check(request.headers.get("Authorization", ""), request.remote or "unknown")
        if user is None:
            return _challenge(request)
        return await handler(request)

    return require_login
