"""Everything Redis holds for Responder: deliveries, the alert index, incidents, the notification ledger.

All keys live under one prefix. Writes that must happen together go through one MULTI/EXEC
pipeline (`Store.transaction`), so an acknowledged alert is either wholly stored or not at all.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import LockError, RedisError, WatchError
from redis.exceptions import TimeoutError as RedisTimeoutError

from responder.errors import StoreUnavailable
from responder.model.alert import Alert, utcnow
from responder.model.incident import Incident
from responder.model.verdict import ClientVerdict

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


class Store:
    def __init__(self, conn: redis.Redis, prefix: str = PREFIX) -> None:
        self.r = conn
        self.p = prefix

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
        except (RedisConnectionError, RedisTimeoutError, LockError) as exc:
            raise StoreUnavailable(f"the store is unavailable: {exc}") from exc
        except RedisError as exc:
            if "LOADING" in str(exc) or "MISCONF" in str(exc) or "READONLY" in str(exc):
                raise StoreUnavailable(f"the store is unavailable: {exc}") from exc
            raise

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

    # -- maintenance windows ------------------------------------------------------------------------

    def maintenance_windows(self) -> list[str]:
        """The windows added at run time, as stored JSON documents."""
        return [text(v) for v in self.r.hvals(self._key("maintenance"))]

    def maintenance_window(self, window_id: str) -> str | None:
        v = self.r.hget(self._key("maintenance"), window_id)
        return text(v) if v is not None else None

    def put_maintenance_window(self, window_id: str, document: str) -> None:
        self.r.hset(self._key("maintenance"), window_id, document)

    # -- incidents --------------------------------------------------------------------------------

    # An incident is several keys, so that intake adds to it in O(1) without rewriting anything:
    # `incident:<id>`             the document (verdicts, notifications, headline...), written by flight
    # `incident:<id>:alerts`      hash identity -> alert (a resolve replaces its firing)
    # `incident:<id>:flight`      hash: status and the single-flight fields, shared by intake and flight
    #                             (the key `update_incident` WATCHes: intake writes it only on a change)
    # `incident:<id>:intake`      hash: updated_at, truncated
    # `incident:<id>:affected|unmapped|notes`  ordered lists as ZSETs (score = position)
    # On reading, the parts override the document's copies of those fields.
    _FLIGHT = ("status", "generation", "assessed_generation", "pending", "running", "dirty")
    _LISTS: ClassVar[dict[str, str]] = {"affected": "affected", "unmapped_hosts": "unmapped", "notes": "notes"}
    _APPEND = """
        local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
        local n = last[2] and tonumber(last[2]) or 0
        for i = 2, #ARGV do
            if not redis.call('ZSCORE', KEYS[1], ARGV[i]) then n = n + 1; redis.call('ZADD', KEYS[1], n, ARGV[i]) end
        end
        if tonumber(ARGV[1]) > 0 then redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(tonumber(ARGV[1]) + 1)) end
    """

    def get_incident(self, incident_id: str, alerts: bool = True) -> Incident | None:
        """The incident; with `alerts=False` its alert list is left empty (when only other parts change)."""
        found = self.get_incidents([incident_id], alerts=alerts)
        return found[0] if found else None

    def get_incidents(self, ids: list[str], alerts: bool = True, client: Any = None) -> list[Incident]:
        if not ids:
            return []
        parts = ("flight", "intake", "affected", "unmapped", "notes", *(("alerts",) if alerts else ()))
        pipe = client if client is not None else self.r.pipeline(transaction=False)
        for i in ids:
            pipe.get(self._key("incident", i))
            pipe.hgetall(self._key("incident", i, "flight"))
            pipe.hgetall(self._key("incident", i, "intake"))
            for name in ("affected", "unmapped", "notes"):
                pipe.zrange(self._key("incident", i, name), 0, -1)
            if alerts:
                pipe.hvals(self._key("incident", i, "alerts"))
        answers = pipe.execute()
        if client is None:
            pipe.reset()
        step = 1 + len(parts)
        out = []
        for n in range(len(ids)):
            raw, flight, seen, affected, unmapped, notes, *rest = answers[n * step:(n + 1) * step]
            if not raw:
                continue
            data = json.loads(raw)
            data.update(_flight_fields({text(k): text(v) for k, v in flight.items()}))
            seen = {text(k): text(v) for k, v in seen.items()}
            if "updated_at" in seen and seen["updated_at"] > data.get("updated_at", ""):
                data["updated_at"] = seen["updated_at"]
            data["truncated"] = max(int(data.get("truncated") or 0), int(seen.get("truncated", 0)))
            for field, found in (("affected", affected), ("unmapped_hosts", unmapped), ("notes", notes)):
                if found:
                    data[field] = [text(v) for v in found]
            incident = Incident.model_validate(data)
            if alerts:
                incident.alerts = sorted((Alert.model_validate_json(a) for a in rest[0]),
                                         key=lambda a: (a.received_at, a.identity))
            out.append(incident)
        return out

    def update_incident(self, incident_id: str, change: Callable[[Incident | None, Any], T],
                        alerts: bool = True) -> T:
        """Optimistic read-modify-write, no lock: read the incident with its document and flight fields
        WATCHed, let `change(incident, pipe)` queue its writes on the MULTI pipe (`put_incident`, RQ
        jobs with `pipeline=pipe`), and run it again from a fresh read if anything wrote those keys
        meanwhile. `change` must only decide and queue: it may run more than once."""
        while True:
            with self.r.pipeline(transaction=True) as pipe:
                try:
                    pipe.watch(self._key("incident", incident_id), self._key("incident", incident_id, "flight"))
                    found = self.get_incidents([incident_id], alerts=alerts, client=_Immediate(pipe))
                    pipe.multi()
                    result = change(found[0] if found else None, pipe)
                    pipe.execute()
                    return result
                except WatchError:
                    continue

    def list_incidents(self, limit: int = 50, offset: int = 0) -> list[Incident]:
        ids = [text(i) for i in self.r.zrevrange(self._key("incidents"), offset, offset + limit - 1)]
        return self.get_incidents(ids)

    def count_incidents(self) -> int:
        return int(self.r.zcard(self._key("incidents")))

    def open_incident_of(self, client: str) -> str | None:
        v = self.r.get(self._key("open", client))
        return text(v) if v else None

    def open_incidents_of(self, clients: list[str]) -> dict[str, str]:
        if not clients:
            return {}
        values = self.r.mget([self._key("open", c) for c in clients])
        return {c: text(v) for c, v in zip(clients, values, strict=True) if v}

    def put_open_incident(self, pipe: Any, client: str, incident_id: str) -> None:
        """Point the client at its open incident (a client is in at most one)."""
        pipe.set(self._key("open", client), incident_id)

    def drop_open_incident(self, pipe: Any, client: str) -> None:
        pipe.delete(self._key("open", client))

    def put_incident(self, pipe: Any, incident: Incident, alerts: bool = True) -> None:
        """Queue the incident's writes on `pipe`; its alerts too unless `alerts=False` (nothing new).
        Lists only grow here (intake may have added to them since `incident` was read)."""
        i = incident.id
        pipe.set(self._key("incident", i), incident.model_dump_json(exclude={"alerts"}))
        flight = {f: int(v) if isinstance(v := getattr(incident, f), bool) else v for f in self._FLIGHT}
        flight.update(opened_ms=int(incident.opened_at.timestamp() * 1000),
                      due_ms=int(incident.due_at.timestamp() * 1000) if incident.due_at else "")
        pipe.hset(self._key("incident", i, "flight"), mapping=flight)
        pipe.hset(self._key("incident", i, "intake"), mapping={
            "updated_at": incident.updated_at.isoformat(), "truncated": incident.truncated})
        for field, name in self._LISTS.items():
            if getattr(incident, field):
                pipe.eval(self._APPEND, 1, self._key("incident", i, name), 200 if name == "notes" else 0,
                          *getattr(incident, field))
        pipe.zadd(self._key("incidents"), {i: incident.opened_at.timestamp()})
        if alerts and incident.alerts:
            pipe.hset(self._key("incident", i, "alerts"),
                      mapping={a.identity: a.model_dump_json() for a in incident.alerts})

    # -- intake: one script per delivery, and the outbox of assessments it asks for -----------------

    _GROUP = (Path(__file__).parent / "store_intake.lua").read_text()

    def group_delivery(self, plan: dict[str, Any], new_doc: str, delivery: str, alerts: list[str]) -> dict[str, Any]:
        """Run (part of) one delivery's grouping in Redis (responder/store_intake.lua names the fields
        of `plan`). It dedupes, places, points clients, gathers, requests assessments and stores the
        raw delivery in one atomic step: when it answers (AOF fsync always) the alerts are durable."""
        if not hasattr(self, "_group"):
            self._group = self.r.register_script(self._GROUP)
        plan = {**plan, "prefix": self.p, "ttl": ALERT_INDEX_TTL}
        answer: dict[str, Any] = json.loads(self._group(args=[json.dumps(plan), new_doc, delivery, *alerts]))
        return answer

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

    def last_verdicts(self, clients: list[str]) -> dict[str, ClientVerdict]:
        """Each client's verdict from its previous assessment (in any incident)."""
        if not clients:
            return {}
        raws = self.r.mget([self._key("last", c) for c in clients])
        return {c: ClientVerdict.model_validate_json(r) for c, r in zip(clients, raws, strict=True) if r}

    def put_last_verdict(self, pipe: Any, verdict: ClientVerdict) -> None:
        pipe.set(self._key("last", verdict.client), verdict.model_dump_json(), ex=90 * 86400)

    # -- the notification ledger --------------------------------------------------------------------

    # A claim is "sending <epoch>" until the send ends ("sent" or "failed"). A claim still "sending" after
    # CLAIM_STALE seconds belongs to a sender that died mid-way (no send lasts that long): it may be
    # taken over, so a worker killed while sending delays a message instead of losing it.
    CLAIM_STALE = 150
    _CLAIM = """
        local held = redis.call('GET', KEYS[1])
        local since = held and string.match(held, '^sending (%d+)')
        if (not held) or (since and tonumber(since) < tonumber(ARGV[2])) then
            redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
            return 1
        end
        return 0
    """

    def claim_message(self, incident_id: str, state: str, channel: str, to: str) -> bool:
        """Write the idempotency key before sending: only the first claim for a state sends."""
        now = int(time.time())
        return bool(self.r.eval(self._CLAIM, 1, self._key("sent", incident_id, state, channel, to),
                                f"sending {now}", now - self.CLAIM_STALE, 30 * 86400))

    def mark_message(self, incident_id: str, state: str, channel: str, to: str, status: str) -> None:
        self.r.set(self._key("sent", incident_id, state, channel, to), status, ex=30 * 86400)

    def message_status(self, incident_id: str, state: str, channel: str, to: str) -> str | None:
        """"sending", "sent", "failed", or None when nothing claimed it."""
        held = self.r.get(self._key("sent", incident_id, state, channel, to))
        return text(held).split(" ", 1)[0] if held is not None else None

    def hold_message(self, incident_id: str, state: str, channel: str, to: str, since: int) -> None:
        """Leave a claim "sending" since `since` (epoch seconds), as a sender that died mid-send does."""
        self.r.set(self._key("sent", incident_id, state, channel, to), f"sending {since}", ex=30 * 86400)

    def release_message(self, incident_id: str, state: str, channel: str, to: str) -> None:
        self.r.delete(self._key("sent", incident_id, state, channel, to))

    # -- misc -------------------------------------------------------------------------------------

    def clear(self) -> None:
        """Delete every key of this database (tests start each case from nothing)."""
        self.r.flushdb()

    def now(self) -> datetime:
        return utcnow()


def _flight_fields(raw: dict[str, str]) -> dict[str, Any]:
    """The flight hash as Incident fields (flags are "0"/"1", times epoch milliseconds)."""
    out: dict[str, Any] = {}
    for name in ("generation", "assessed_generation"):
        if name in raw:
            out[name] = int(raw[name])
    for name in ("pending", "running", "dirty"):
        if name in raw:
            out[name] = raw[name] == "1"
    if "status" in raw:
        out["status"] = raw["status"]
    if "due_ms" in raw:
        out["due_at"] = datetime.fromtimestamp(int(raw["due_ms"]) / 1000, UTC).isoformat() if raw["due_ms"] else None
    return out


class _Immediate:
    """A watched pipeline before MULTI runs each command at once; this collects their answers so
    `get_incidents` reads through it the same way it reads through a plain pipeline."""

    def __init__(self, pipe: Any) -> None:
        self.pipe = pipe
        self.answers: list[Any] = []

    def __getattr__(self, name: str) -> Callable[..., None]:
        def call(*args: Any, **kwargs: Any) -> None:
            self.answers.append(getattr(self.pipe, name)(*args, **kwargs))
        return call

    def execute(self) -> list[Any]:
        return self.answers
