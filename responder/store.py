"""Everything Redis holds for Responder: deliveries, the alert index, incidents, the notification ledger.

All keys live under one prefix. Writes that must happen together go through one MULTI/EXEC
pipeline (`Store.transaction`), so an acknowledged alert is either wholly stored or not at all.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import LockError, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from responder.errors import StoreUnavailable
from responder.model.alert import Alert, utcnow
from responder.model.incident import Incident, Progress
from responder.model.verdict import ClientVerdict

PREFIX = "responder:"
DELIVERY_TTL = 30 * 86400
ALERT_INDEX_TTL = 30 * 86400
RECORDED_ONLY = "-"  # the alert index's value for an alert that went to no incident


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
    def locked(self, name: str = "incidents", timeout: float = 30.0) -> Iterator[None]:
        """A short cross-process lock around read-modify-write of incidents."""
        lock = self.r.lock(self._key("lock", name), timeout=timeout, sleep=0.005, blocking_timeout=15.0)
        if not lock.acquire():
            raise StoreUnavailable("the store is busy: could not take the incidents lock in 15 s")
        try:
            yield
        finally:
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

    def put_alert_placement(self, pipe: Any, alert_key: str, incident_ids: list[str]) -> None:
        """Where an alert went; "-" when it was recorded on no incident (an acknowledgement with
        nothing open). Its presence is what makes a redelivery a duplicate."""
        pipe.set(self._key("alert", alert_key), ",".join(incident_ids) or RECORDED_ONLY, ex=ALERT_INDEX_TTL)

    def alert_stored(self, alert_key: str) -> bool:
        return bool(self.r.exists(self._key("alert", alert_key)))

    def put_identity_incident(self, pipe: Any, identity: str, incident_id: str) -> None:
        """The incident an alert identity (host + check) last went to: where its acknowledgements and late
        resolves belong."""
        pipe.set(self._key("ident", identity), incident_id, ex=ALERT_INDEX_TTL)

    def identity_incident(self, identity: str) -> str | None:
        v = self.r.get(self._key("ident", identity))
        return text(v) if v else None

    def gathering_incident(self) -> str | None:
        """The incident still gathering a storm (within its group_wait), if any."""
        v = self.r.get(self._key("gathering"))
        return text(v) if v else None

    def put_gathering_incident(self, pipe: Any, incident_id: str, ttl_ms: int) -> None:
        pipe.set(self._key("gathering"), incident_id, px=ttl_ms)

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

    # An incident is two keys: `incident:<id>` holds the document without its alerts, and
    # `incident:<id>:alerts` a hash of identity -> alert. A storm of thousands of alerts then costs one
    # HSET per new alert at intake, not a rewrite of everything the incident already holds.

    def get_incident(self, incident_id: str, alerts: bool = True) -> Incident | None:
        """The incident; with `alerts=False` its alert list is left empty (intake only adds to it)."""
        found = self.get_incidents([incident_id], alerts=alerts)
        return found[0] if found else None

    def get_incidents(self, ids: list[str], alerts: bool = True) -> list[Incident]:
        if not ids:
            return []
        with self.r.pipeline(transaction=False) as pipe:
            for i in ids:
                pipe.get(self._key("incident", i))
                if alerts:
                    pipe.hvals(self._key("incident", i, "alerts"))
            answers = pipe.execute()
        step = 2 if alerts else 1
        out = []
        for n in range(len(ids)):
            raw = answers[n * step]
            if not raw:
                continue
            incident = Incident.model_validate_json(raw)
            if alerts:
                incident.alerts = sorted((Alert.model_validate_json(a) for a in answers[n * step + 1]),
                                         key=lambda a: (a.received_at, a.identity))
            out.append(incident)
        self.attach_progress(out)
        return out

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
        """Queue the incident's writes on `pipe`; its alerts too unless `alerts=False` (nothing new)."""
        pipe.set(self._key("incident", incident.id), incident.model_dump_json(exclude={"alerts"}))
        pipe.zadd(self._key("incidents"), {incident.id: incident.opened_at.timestamp()})
        if alerts and incident.alerts:
            pipe.hset(self._key("incident", incident.id, "alerts"),
                      mapping={a.identity: a.model_dump_json() for a in incident.alerts})

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

    # -- fan-out: probe shards and their join (issue 9) ---------------------------------------------

    # One assessment (incident, generation) fanned out is four keys, all expiring after FANOUT_TTL:
    #   assessment:<id>:<gen>          hash: checks, requests, shards, deadline; per shard n: d:n checks
    #                                  done, w:n the worker running it, f:n set once it reported; finished
    #   assessment:<id>:<gen>:plan     hash: shard n -> its requests (JSON)
    #   assessment:<id>:<gen>:clients  the clients assessed (JSON), as they were at the fan-out
    #   assessment:<id>:<gen>:results  hash: request key -> Check (JSON), written as checks finish
    # and join:<id>:<gen>, the claim of the one join allowed to settle it.
    FANOUT_TTL = 86400
    _SHARD_DONE = """
        if redis.call('EXISTS', KEYS[1]) == 0 then return {-1, 0} end
        if redis.call('HSETNX', KEYS[1], 'f:' .. ARGV[1], '1') == 1 then
            redis.call('HSET', KEYS[1], 'd:' .. ARGV[1], ARGV[2], 'w:' .. ARGV[1], ARGV[3])
            redis.call('HINCRBY', KEYS[1], 'finished', 1)
        end
        return {tonumber(redis.call('HGET', KEYS[1], 'finished') or '0'),
                tonumber(redis.call('HGET', KEYS[1], 'shards') or '0')}
    """

    def _fanout_key(self, incident_id: str, generation: int, *part: str) -> str:
        return self._key("assessment", incident_id, str(generation), *part)

    def fanout_exists(self, incident_id: str, generation: int) -> bool:
        return bool(self.r.exists(self._fanout_key(incident_id, generation)))

    def put_fanout(self, pipe: Any, incident_id: str, generation: int, *, clients: list[str],
                   shards: list[str], checks: int, requests: int, deadline: datetime) -> None:
        """Queue on `pipe` the plan of a fanned-out assessment: its clients and each shard's requests."""
        meta = self._fanout_key(incident_id, generation)
        pipe.delete(meta, self._fanout_key(incident_id, generation, "plan"),
                    self._fanout_key(incident_id, generation, "results"))
        pipe.hset(meta, mapping={"checks": checks, "requests": requests, "shards": len(shards),
                                 "finished": 0, "deadline": deadline.isoformat()})
        pipe.set(self._fanout_key(incident_id, generation, "clients"), json.dumps(clients), ex=self.FANOUT_TTL)
        if shards:
            pipe.hset(self._fanout_key(incident_id, generation, "plan"),
                      mapping={str(n): plan for n, plan in enumerate(shards)})
        for part in ((), ("plan",)):
            pipe.expire(self._fanout_key(incident_id, generation, *part), self.FANOUT_TTL)

    def fanout_clients(self, incident_id: str, generation: int) -> list[str] | None:
        raw = self.r.get(self._fanout_key(incident_id, generation, "clients"))
        return list(json.loads(raw)) if raw else None

    def shard_plan(self, incident_id: str, generation: int, shard: int) -> str | None:
        raw = self.r.hget(self._fanout_key(incident_id, generation, "plan"), str(shard))
        return text(raw) if raw is not None else None

    def begin_shard(self, incident_id: str, generation: int, shard: int, worker: str) -> bool:
        """Mark the shard taken by `worker`, its count back at zero (a retry starts over); False when it
        already reported or the assessment is gone."""
        meta = self._fanout_key(incident_id, generation)
        with self.r.pipeline(transaction=False) as pipe:
            pipe.exists(meta)
            pipe.hexists(meta, f"f:{shard}")
            exists, reported = pipe.execute()
        if not exists or reported:
            return False
        self.r.hset(meta, mapping={f"d:{shard}": 0, f"w:{shard}": worker})
        return True

    def put_shard_checks(self, incident_id: str, generation: int, shard: int, checks: dict[str, str],
                         weight: int) -> None:
        """Stream a batch of a shard's finished checks (request key -> Check JSON) and count them."""
        if not checks:
            return
        results = self._fanout_key(incident_id, generation, "results")
        with self.r.pipeline(transaction=True) as pipe:
            pipe.hset(results, mapping={k: v for k, v in checks.items()})
            pipe.expire(results, self.FANOUT_TTL)
            pipe.hincrby(self._fanout_key(incident_id, generation), f"d:{shard}", weight)
            pipe.execute()

    def finish_shard(self, incident_id: str, generation: int, shard: int, checks: dict[str, str],
                     weight: int, worker: str) -> tuple[int, int]:
        """The shard's last checks and its report, in one transaction; (shards reported, shards in all).
        A shard reported twice (a retry racing a slow original) counts once."""
        results = self._fanout_key(incident_id, generation, "results")
        with self.r.pipeline(transaction=True) as pipe:
            if checks:
                pipe.hset(results, mapping={k: v for k, v in checks.items()})
                pipe.expire(results, self.FANOUT_TTL)
            pipe.eval(self._SHARD_DONE, 1, self._fanout_key(incident_id, generation), str(shard), weight, worker)
            answer = pipe.execute()[-1]
        return int(answer[0]), int(answer[1])

    def fanout_checks(self, incident_id: str, generation: int) -> dict[str, str]:
        """Every check the shards reported: request key -> Check JSON."""
        raw = self.r.hgetall(self._fanout_key(incident_id, generation, "results"))
        return {text(k): text(v) for k, v in raw.items()}

    def claim_join(self, incident_id: str, generation: int, ttl: int) -> bool:
        """Only one join settles an assessment; a claim whose holder died lapses after `ttl` seconds."""
        return bool(self.r.set(self._key("join", incident_id, str(generation)), "1", nx=True, ex=ttl))

    def release_join(self, incident_id: str, generation: int) -> None:
        self.r.delete(self._key("join", incident_id, str(generation)))

    def attach_progress(self, incidents: list[Incident]) -> None:
        """Fill each incident's `progress` from its newest fanned-out assessment."""
        wanted = [(i, g) for i in incidents for g in dict.fromkeys((i.generation, i.assessed_generation)) if g > 0]
        if not wanted:
            return
        with self.r.pipeline(transaction=False) as pipe:
            for inc, g in wanted:
                pipe.hgetall(self._fanout_key(inc.id, g))
            answers = pipe.execute()
        for (inc, _g), raw in zip(wanted, answers, strict=True):
            if inc.progress is None and raw:
                inc.progress = self._progress({text(k): text(v) for k, v in raw.items()})

    @staticmethod
    def _progress(meta: dict[str, str]) -> Progress:
        """Counts of the fanned-out assessment; `by_worker` sums the shards each worker runs or ran."""
        shards = int(meta.get("shards", 0))
        done = {n: int(meta.get(f"d:{n}", 0)) for n in range(shards)}
        by_worker: dict[str, int] = {}
        for n, count in done.items():
            worker = meta.get(f"w:{n}")
            if worker:
                by_worker[worker] = by_worker.get(worker, 0) + count
        return Progress(checks_total=int(meta.get("checks", 0)), checks_done=sum(done.values()),
                        shards_total=shards, shards_done=int(meta.get("finished", 0)), by_worker=by_worker)

    # -- misc -------------------------------------------------------------------------------------

    def clear(self) -> None:
        """Delete every key of this database (tests start each case from nothing)."""
        self.r.flushdb()

    def now(self) -> datetime:
        return utcnow()

