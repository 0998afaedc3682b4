"""What intake writes: raw deliveries, the alert index, the grouping script, the outbox of assessments."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic_core import to_json
from redis.asyncio import ConnectionPool as AsyncPool
from redis.asyncio import Redis as AsyncRedis
from redis.asyncio.connection import Connection as AsyncConnection
from redis.asyncio.connection import UnixDomainSocketConnection as AsyncUnix
from redis.commands.core import AsyncScript
from redis.connection import Connection as SyncConnection
from redis.connection import UnixDomainSocketConnection as SyncUnix
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import WatchError

from responder.store.base import ALERT_INDEX_TTL, DELIVERY_TTL, text
from responder.store.incidents import Incidents

# what an asyncio twin copies of the connection's settings: where, who, and the timeouts
_COPIED = frozenset({"host", "port", "path", "db", "username", "password", "socket_timeout",
                     "socket_connect_timeout", "health_check_interval"})


# (plan, new incident's document, delivery record, alerts): the documents as the bytes they are
# stored as (str is encoded to UTF-8)
Part = tuple[dict[str, Any], bytes | str, bytes | str, list[bytes] | list[str]]
Encoded = tuple[bytes, list[bytes]]  # a Part as the script takes it: its plan's JSON, then its ARGV
MAX_ALERTS = 500  # alerts per script call: a few milliseconds of Redis's time


def _utf8(text: bytes | str) -> bytes:
    return text if isinstance(text, bytes) else text.encode()


def encode(part: Part) -> Encoded:
    """One delivery's share of a call, encoded by its own caller: a part that cannot be (text that is
    not UTF-8) fails alone, never the deliveries it would have shared a call with."""
    plan, new_doc, delivery, alerts = part
    return to_json(plan), [_utf8(new_doc), _utf8(delivery), *(_utf8(a) for a in alerts)]


def script_args(prefix: str, parts: list[Encoded]) -> list[bytes]:
    """ARGV of one call of intake.lua for these deliveries (or parts of one), in order."""
    head = to_json({"prefix": prefix, "ttl": ALERT_INDEX_TTL})
    args = [head[:-1] + b',"deliveries":[' + b",".join(plan for plan, _ in parts) + b"]}"]
    for _, argv in parts:
        args += argv
    return args


class AsyncGroup:
    """The grouping script on an asyncio client, with group commit: the deliveries that come while one
    call is in Redis go together in the next (up to MAX_ALERTS alerts), so a busy receiver pays the
    round trip, the client library and the fsync once per batch instead of once per delivery. Each
    caller gets its own delivery's answer when the call that carried it has answered, which with
    `appendfsync always` is after the fsync; a failed call raises its error to every caller in it."""

    def __init__(self, conn: AsyncRedis, script: AsyncScript, prefix: str, max_alerts: int = MAX_ALERTS) -> None:
        self.conn = conn
        self.script = script
        self.prefix = prefix
        self.max_alerts = max_alerts
        self._waiting: collections.deque[tuple[Encoded, asyncio.Future[dict[str, Any]]]] = collections.deque()
        self._committer: asyncio.Task[None] | None = None

    async def __call__(self, plan: dict[str, Any], new_doc: bytes | str, delivery: bytes | str,
                       alerts: list[bytes] | list[str]) -> dict[str, Any]:
        part = encode((plan, new_doc, delivery, alerts))
        answer: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting.append((part, answer))
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit())  # starts after this tick's arrivals
        return await answer

    def _take(self) -> list[tuple[Encoded, asyncio.Future[dict[str, Any]]]]:
        def alerts(item: tuple[Encoded, Any]) -> int:
            return len(item[0][1]) - 2  # its ARGV: the new document, the record, then its alerts

        batch = [self._waiting.popleft()]
        size = alerts(batch[0])
        while self._waiting and size + alerts(self._waiting[0]) <= self.max_alerts:
            size += alerts(self._waiting[0])
            batch.append(self._waiting.popleft())
        return batch

    async def _commit(self) -> None:
        while self._waiting:
            batch = [item for item in self._take() if not item[1].done()]  # a caller may have gone
            if not batch:
                continue
            try:
                raw = await self.script(args=script_args(self.prefix, [part for part, _ in batch]))
                answers: list[dict[str, Any]] = json.loads(raw)
            except asyncio.CancelledError:
                self._fail(batch)
                raise
            except Exception as exc:
                for _, answer in batch:
                    if not answer.done():
                        answer.set_exception(exc)
                continue
            for (_, answer), one in zip(batch, answers, strict=True):
                if not answer.done():
                    answer.set_result(one)

    async def aclose(self) -> None:
        if self._committer is not None:
            self._committer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._committer
        self._fail(list(self._waiting))
        self._waiting.clear()
        await self.conn.aclose()

    @staticmethod
    def _fail(batch: list[tuple[Encoded, asyncio.Future[dict[str, Any]]]]) -> None:
        for _, answer in batch:
            if not answer.done():
                answer.set_exception(RedisConnectionError("the receiver is closing"))


class Intake(Incidents):
    # -- deliveries and the alert index -------------------------------------------------------------

    def put_delivery(self, pipe: Any, delivery_id: str, record: dict[str, Any]) -> None:
        """The raw delivery as received, kept for `replay` and for proving what was acknowledged."""
        pipe.set(self._key("delivery", delivery_id), json.dumps(record), ex=DELIVERY_TTL)

    def deliveries(self) -> list[dict[str, Any]]:
        """Every delivery still kept (tests and forensics; not for hot paths)."""
        keys = sorted(self.r.scan_iter(self._key("delivery", "*"), count=1000))
        return [json.loads(v) for v in self.r.mget(keys) if v] if keys else []

    def alert_stored(self, alert_key: str) -> bool:
        return bool(self.r.exists(self._key("alert", alert_key)))

    def known_alert_keys(self, keys: list[str]) -> dict[str, list[str]]:
        """For each alert key already stored: the incidents it went to."""
        if not keys:
            return {}
        values = self.r.mget([self._key("alert", k) for k in keys])
        return {k: text(v).split(",") for k, v in zip(keys, values, strict=True) if v}

    # -- intake: one script per delivery, and the outbox of assessments it asks for -----------------

    _GROUP = (Path(__file__).parent / "intake.lua").read_text()

    def group_delivery(self, plan: dict[str, Any], new_doc: bytes | str, delivery: bytes | str,
                       alerts: list[bytes] | list[str]) -> dict[str, Any]:
        """Run (part of) one delivery's grouping in Redis (responder/store/intake.lua names the fields
        of `plan`). It dedupes, places, points clients, gathers, requests assessments and stores the
        raw delivery in one atomic step: when it answers (AOF fsync always) the alerts are durable."""
        [answer] = self.group_deliveries([(plan, new_doc, delivery, alerts)])
        return answer

    def group_deliveries(self, parts: list[Part]) -> list[dict[str, Any]]:
        """`group_delivery` for several deliveries in one atomic call; one answer each, in order."""
        if not hasattr(self, "_group"):
            self._group = self.r.register_script(self._GROUP)
        answers: list[dict[str, Any]] = json.loads(self._group(args=script_args(self.p, [encode(p) for p in parts])))
        return answers

    def async_group(self) -> AsyncGroup | None:
        """The grouping script on an asyncio client of the same Redis, for the receiver: awaited on the
        event loop instead of handing each delivery to a thread. None for a connection kind it does not
        copy (TLS): the caller keeps the thread pool then."""
        pool = self.r.connection_pool
        kinds: dict[type, type] = {SyncConnection: AsyncConnection, SyncUnix: AsyncUnix}
        kind = kinds.get(pool.connection_class)
        if kind is None:
            return None
        kwargs = {k: v for k, v in pool.connection_kwargs.items() if k in _COPIED}
        conn = AsyncRedis(connection_pool=AsyncPool(connection_class=kind, **kwargs))
        return AsyncGroup(conn, conn.register_script(self._GROUP), self.p)

    def assessments_due(self, older_than_ms: int) -> list[tuple[str, int, int]]:
        """Outbox entries a receiver wrote but has not (yet) turned into jobs: (incident, generation,
        when_ms). The sweep takes those older than `older_than_ms` epoch milliseconds."""
        entries = self.r.zrangebyscore(self._key("assess", "outbox"), 0, older_than_ms, start=0, num=1000)
        out = []
        for e in entries:
            iid, _, gen = text(e).rpartition("|")
            when = self.r.get(self._key("assess", "due", iid, gen))
            out.append((iid, int(gen), int(when or 0)))
        return out

    def take_due(self, incident_id: str, generation: int, queue: Callable[[Any], None]) -> bool:
        """Turn one outbox entry into its job exactly once: `queue(pipe)` enqueues it (rq's
        `pipeline=`) in the MULTI that deletes the entry; a concurrent taker's EXEC fails on the WATCH."""
        due = self._key("assess", "due", incident_id, str(generation))
        with self.r.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(due)
                if not pipe.exists(due):
                    pipe.zrem(self._key("assess", "outbox"), f"{incident_id}|{generation}")
                    return False
                pipe.multi()
                queue(pipe)
                pipe.delete(due)
                pipe.zrem(self._key("assess", "outbox"), f"{incident_id}|{generation}")
                pipe.execute()
                return True
            except WatchError:
                return False
