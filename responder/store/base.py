"""The store's foundation: the connection, the one function that spells keys, health, transactions."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from datetime import datetime
from typing import Any, TypeVar

import redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import LockError, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from responder.errors import StoreUnavailable
from responder.model.alert import utcnow

PREFIX = "responder:"
DELIVERY_TTL = 30 * 86400
ALERT_INDEX_TTL = 30 * 86400
RECORDED_ONLY = "-"  # the alert index's value for an alert that went to no incident
LOCK_TTL = 2.0  # a lock's life without renewal: a holder that dies frees it this soon
T = TypeVar("T")


def text(value: Any) -> str:
    """Redis answers bytes (RQ needs the raw client); we want str."""
    return value.decode() if isinstance(value, bytes) else str(value)


def connect(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5, health_check_interval=30)



class Base:
    def __init__(self, conn: redis.Redis, prefix: str = PREFIX) -> None:
        self.r = conn
        self.p = prefix
        self.errors = 0  # times this process found the store unavailable (for /metrics)

    def _key(self, *parts: str) -> str:
        """The one place a key is spelled: every key Responder writes is built here."""
        return self.p + ":".join(parts)

    # -- health -----------------------------------------------------------------------------------

    def ping(self) -> bool:
        try:
            return bool(self.r.ping())
        except RedisError:
            return False

    @contextlib.contextmanager
    def guard(self) -> Iterator[None]:
        """Turn a lost Redis into StoreUnavailable, the one error callers handle."""
        try:
            yield
        except RedisError as exc:
            unavailable = self.unavailable(exc)
            if unavailable is None:
                raise
            raise unavailable from exc

    def unavailable(self, exc: RedisError) -> StoreUnavailable | None:
        """`guard`'s judgement of a Redis error, for a hot path that catches it itself: the
        StoreUnavailable to raise instead, or None to let it through (counted either way)."""
        self.errors += 1
        if isinstance(exc, RedisConnectionError | RedisTimeoutError | LockError) or \
                "LOADING" in str(exc) or "MISCONF" in str(exc) or "READONLY" in str(exc):
            return StoreUnavailable(f"the store is unavailable: {exc}")
        return None

    @contextlib.contextmanager
    def locked(self, name: str = "incidents", timeout: float = LOCK_TTL) -> Iterator[None]:
        """A short cross-process lock, renewed while its holder lives: a holder that dies (or a Redis
        restarted from its AOF) frees it within `timeout` seconds. Incidents do not need it any more
        (intake is one script, flight and notify use `update_incident`); kept for rare admin work."""
        lock = self.r.lock(self._key("lock", name), timeout=timeout, sleep=0.005, blocking_timeout=15.0)
        if not lock.acquire():
            raise StoreUnavailable(f"the store is busy: could not take the {name} lock in 15 s")
        stop = threading.Event()

        def renew() -> None:
            while not stop.wait(timeout / 3):
                with contextlib.suppress(LockError, RedisError):
                    lock.reacquire()

        renewer = threading.Thread(target=renew, name=f"lock-{name}", daemon=True)
        renewer.start()
        try:
            yield
        finally:
            stop.set()
            renewer.join()
            with contextlib.suppress(LockError, RedisError):
                lock.release()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Any]:
        """A MULTI/EXEC pipeline, executed when the block ends without an error.

        It is in MULTI mode from the start, so RQ can queue jobs into it (`pipeline=`) after other
        commands: everything in the block is stored together or not at all.
        """
        with self.r.pipeline(transaction=True) as pipe:
            pipe.multi()
            yield pipe
            pipe.execute()

    # -- misc -------------------------------------------------------------------------------------

    def clear(self) -> None:
        """Delete every key of this database (tests start each case from nothing)."""
        self.r.flushdb()

    def now(self) -> datetime:
        return utcnow()
