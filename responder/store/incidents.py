"""Incidents (document, alerts, flight hash), client → open incident pointers, last verdicts, maintenance."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar

from pydantic import TypeAdapter, ValidationError
from redis.exceptions import WatchError

from responder.model.alert import Alert
from responder.model.incident import Incident, is_id
from responder.model.verdict import ClientVerdict, shared
from responder.store.base import T, text
from responder.store.shards import Shards

# the stored verdicts straight from their JSON: through json.loads, the dicts of 2,864 clients' checks
# and the models built from them were alive at once (~25 MB more at a notify job's or a join's read)
_VERDICTS = TypeAdapter(list[ClientVerdict])
_NEXT = b',{"client":'  # between two verdicts of the stored list: nowhere else (a string escapes its quotes,
# and no model nested in a verdict has a `client` field)
PER_CHUNK = 256


def parse_verdicts(raw: bytes) -> list[ClientVerdict]:
    """The stored list of verdicts, parsed PER_CHUNK verdicts at a time and each chunk given shared
    fields-sets (`shared`) before the next: pydantic's per-model sets, ~60% of what the models take
    (18 of 28 MB at 2,864 clients), are then never all alive at once. A list not written by
    `put_incident` (older documents), or one a chunk of does not validate, is parsed whole."""
    if not raw.startswith(b'[{"client":'):
        return shared(_VERDICTS.validate_json(raw))
    out: list[ClientVerdict] = []
    start = 1
    try:
        while True:
            end = start
            for _ in range(PER_CHUNK):
                end = raw.find(_NEXT, end + 1)
                if end == -1:
                    break
            out += shared(_VERDICTS.validate_json(b"[" + raw[start:len(raw) - 1 if end == -1 else end] + b"]"))
            if end == -1:
                return out
            start = end + 1
    except ValidationError:
        return shared(_VERDICTS.validate_json(raw))

CLIENT_HISTORY = 200  # incidents remembered per client for its page


class Incidents(Shards):
    # -- maintenance windows ------------------------------------------------------------------------

    def maintenance_windows(self) -> list[str]:
        """The windows added at run time, as stored JSON documents."""
        return [text(v) for v in self.r.hvals(self._key("maintenance"))]

    def maintenance_window(self, window_id: str) -> str | None:
        v = self.r.hget(self._key("maintenance"), window_id)
        return text(v) if v is not None else None

    def put_maintenance_window(self, window_id: str, document: str) -> None:
        self.r.hset(self._key("maintenance"), window_id, document)

    # -- each client's last verdict, in any incident (what changed since) ----------------------------

    LAST_TTL = 90 * 86400

    def last_verdicts(self, clients: list[str]) -> dict[str, ClientVerdict]:
        """Each client's verdict from its previous assessment (in any incident)."""
        if not clients:
            return {}
        raws = self.r.mget([self._key("last", c) for c in clients])
        found = {c: ClientVerdict.model_validate_json(r) for c, r in zip(clients, raws, strict=True) if r}
        shared(list(found.values()))
        return found

    def put_last_verdict(self, pipe: Any, verdict: ClientVerdict) -> None:
        pipe.set(self._key("last", verdict.client), verdict.model_dump_json(), ex=self.LAST_TTL)

    # -- incidents --------------------------------------------------------------------------------

    # An incident is several keys, so that intake adds to it in O(1) without rewriting anything:
    # `incident:<id>`             the document (notifications, headline...), written by flight
    # `incident:<id>:clients`     the verdicts, a JSON list written with the document: most of an outage's
    #                             incident (5 MB at 2,864 clients), so the API passes it on as text
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

    def get_incident(self, incident_id: str, alerts: bool = True, verdicts: bool = True) -> Incident | None:
        """The incident; with `alerts=False` its alert list is left empty, with `verdicts=False` its
        verdicts (`clients`: most of an outage's incident), when only other parts are wanted or change."""
        found = self.get_incidents([incident_id], alerts=alerts, verdicts=verdicts)
        return found[0] if found else None

    def read_verdicts(self, incident: Incident) -> bool:
        """Give an incident read with `verdicts=False` its verdicts, if they are still those of the
        assessment it was read at (written with it in one MULTI); False when a newer one wrote others:
        read the whole incident again then."""
        if not incident._verdicts_left:
            return True  # it has them (or none are stored)
        with self.r.pipeline(transaction=True) as pipe:
            pipe.get(self._key("incident", incident.id, "clients"))
            pipe.hget(self._key("incident", incident.id, "flight"), "assessed_generation")
            stored, generation = pipe.execute()
        if int(generation or 0) != incident.assessed_generation:
            return False
        incident.clients = parse_verdicts(stored) if stored else []
        incident._verdicts_left = False
        return True

    def get_incidents(self, ids: list[str], alerts: bool = True, client: Any = None,
                      verdicts: bool = True) -> list[Incident]:
        return [incident for incident, _ in self._read(ids, alerts, client, raw_clients=False, verdicts=verdicts)]

    def public_incidents(self, ids: list[str]) -> list[bytes]:
        """The incidents as the API's JSON (`Incident.public_json`), the verdicts passed on as stored:
        parsing them into models cost serve ~60 MB and most of a second per read in an outage."""
        return [incident.public_json(verdicts) for incident, verdicts in self._read(ids, True, None, raw_clients=True)]

    def _read(self, ids: list[str], alerts: bool, client: Any, raw_clients: bool,
              verdicts: bool = True) -> list[tuple[Incident, bytes]]:
        """Each incident with its parts; with `raw_clients` its verdicts are left out of the model and
        answered as their JSON text; with `verdicts=False` they are not read at all."""
        ids = [i for i in ids if is_id(i)]  # `x:alerts` would read another key
        if not ids:
            return []
        parts = ("clients", "flight", "intake", "affected", "unmapped", "notes", *(("alerts",) if alerts else ()))
        # MULTI/EXEC: the document and its verdicts, written together, are read together too
        pipe = client if client is not None else self.r.pipeline(transaction=True)
        for i in ids:
            pipe.get(self._key("incident", i))
            if verdicts or raw_clients:
                pipe.get(self._key("incident", i, "clients"))
            else:
                pipe.exists(self._key("incident", i, "clients"))
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
            raw, stored, flight, seen, affected, unmapped, notes, *rest = answers[n * step:(n + 1) * step]
            if not raw:
                continue
            data = json.loads(raw)
            inline = data.pop("clients", None) or []  # documents written before the verdicts had their key
            parsed: list[ClientVerdict] | None = None
            left = False
            if raw_clients:
                stored = (stored if isinstance(stored, bytes) else str(stored).encode()) if stored \
                    else json.dumps(inline).encode()
                # what each scope was told is bookkeeping the API never shows: a scope per client, so
                # in an outage the part of the document that cost serve most to parse on every poll
                data.pop("told", None)
            elif not verdicts and not inline:
                left = bool(stored)  # an EXISTS: the verdicts are there, and stay as they are
                stored = b""
            else:
                parsed = parse_verdicts(stored) if verdicts and stored else None
                data["clients"] = [] if parsed is not None else inline
                stored = b""
            data.update(_flight_fields({text(k): text(v) for k, v in flight.items()}))
            seen = {text(k): text(v) for k, v in seen.items()}
            if "updated_at" in seen and seen["updated_at"] > data.get("updated_at", ""):
                data["updated_at"] = seen["updated_at"]
            data["truncated"] = max(int(data.get("truncated") or 0), int(seen.get("truncated", 0)))
            for field, found in (("affected", affected), ("unmapped_hosts", unmapped), ("notes", notes)):
                if found:
                    data[field] = [text(v) for v in found]
            incident = Incident.model_validate(data)
            if parsed is not None:
                incident.clients = parsed
            incident._verdicts_left = left
            if alerts:
                incident.alerts = sorted((Alert.model_validate_json(a) for a in rest[0]),
                                         key=lambda a: (a.received_at, a.identity))
            out.append((incident, stored))
        self.attach_progress([incident for incident, _ in out])
        return out

    def list_incidents(self, limit: int = 50, offset: int = 0) -> list[Incident]:
        return self.get_incidents(self._newest(limit, offset))

    def list_public_incidents(self, limit: int = 50) -> list[bytes]:
        """`list_incidents` as the API's JSON (`public_incidents`)."""
        return self.public_incidents(self._newest(limit, 0))

    def _newest(self, limit: int, offset: int) -> list[str]:
        return [text(i) for i in self.r.zrevrange(self._key("incidents"), offset, offset + limit - 1)]

    def update_incident(self, incident_id: str, change: Callable[[Incident | None, Any], T],
                        alerts: bool = True, verdicts: bool = True) -> T:
        """Optimistic read-modify-write, no lock: read the incident with its document and flight fields
        WATCHed, let `change(incident, pipe)` queue its writes on the MULTI pipe (`put_incident`, RQ
        jobs with `pipeline=pipe`), and run it again from a fresh read if anything wrote those keys
        meanwhile. `change` must only decide and queue: it may run more than once."""
        while True:
            with self.r.pipeline(transaction=True) as pipe:
                try:
                    pipe.watch(self._key("incident", incident_id), self._key("incident", incident_id, "flight"))
                    found = self.get_incidents([incident_id], alerts=alerts, client=_Immediate(pipe),
                                               verdicts=verdicts)
                    pipe.multi()
                    result = change(found[0] if found else None, pipe)
                    pipe.execute()
                    return result
                except WatchError:
                    continue

    def count_incidents(self) -> int:
        return int(self.r.zcard(self._key("incidents")))

    def incidents_of_client(self, client: str, limit: int = 20) -> list[Incident]:
        """The newest incidents that assessed (or will assess) the client, newest first (its page)."""
        ids = [text(i) for i in self.r.zrevrange(self._key("client", client, "incidents"), 0, limit - 1)]
        return self.get_incidents(ids, alerts=False)

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

    def put_incident(self, pipe: Any, incident: Incident, alerts: bool = True, last: bool = False) -> None:
        """Queue the incident's writes on `pipe`; its alerts too unless `alerts=False` (nothing new), and
        with `last` each verdict as its client's last (`last_verdicts`). Lists only grow here (intake
        may have added to them since `incident` was read)."""
        i = incident.id
        document = incident.__pydantic_serializer__.to_json(incident, exclude={"alerts", "clients"})
        pipe.set(self._key("incident", i), document)
        # each verdict serialised once, for the list and each client's last, and kept as the bytes
        # pydantic writes: as text, every verdict was copied twice more (decoded here, encoded again by
        # redis-py), ~15 MB at the join of 2,864 clients
        each = [v.__pydantic_serializer__.to_json(v) for v in incident.clients]
        if not incident._verdicts_left:  # read without them: the stored ones stand
            pipe.set(self._key("incident", i, "clients"), _json_list(each))
        if last and not incident._verdicts_left:
            for verdict, dumped in zip(incident.clients, each, strict=True):
                # a memoryview is sent as it is; bytes this small redis-py copies twice into its buffers
                pipe.set(self._key("last", verdict.client), memoryview(dumped), ex=self.LAST_TTL)
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
        for client in dict.fromkeys([*incident.affected, *(c.client for c in incident.clients)]):
            pipe.zadd(self._key("client", client, "incidents"), {i: incident.opened_at.timestamp()})
            pipe.zremrangebyrank(self._key("client", client, "incidents"), 0, -CLIENT_HISTORY - 1)
        if alerts and incident.alerts:
            pipe.hset(self._key("incident", i, "alerts"),
                      mapping={a.identity: a.model_dump_json() for a in incident.alerts})


def _json_list(items: list[bytes]) -> memoryview:
    """`[a,b,...]` built in one buffer (redis-py sends a memoryview as it is, without a copy)."""
    out = bytearray(b"[")
    for n, item in enumerate(items):
        if n:
            out += b","
        out += item
    out += b"]"
    return memoryview(out)


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
