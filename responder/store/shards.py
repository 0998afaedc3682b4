"""Probe shards of a fanned-out assessment: their checks, their reports, the join's claim, progress."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from responder.model.incident import Incident, Progress
from responder.store.base import Base, text


class Shards(Base):
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
