"""Grouping alerts into incidents: one incident per storm, one open incident per client, one incident
per alert.

Rules:
- every alert whose clients have no open incident joins the incident still gathering (its first
  `group_wait`), or opens one: a storm is one event to a person;
- a client belongs to at most one open incident; a later alert touching it joins that incident and
  asks for a re-assessment;
- one alert goes to one incident: when some of its clients have an open incident, it joins that one
  (the gathering one first, else the oldest) and its clients with none join it too; it is never split
  over two incidents, so one event never makes two messages;
- an alert with no usable host (none named, or none the inventory knows) is recorded and listed
  (`unmapped_hosts`, a note saying which labels were tried) on the gathering or the open incident of
  such alerts, and asks for an assessment only of an incident with no clients: it never re-probes
  anybody's clients;
- assessments are requested through the single-flight rule of `responder.lifecycle.flight`.

The rules run inside Redis, as one script call (responder/store/intake.lua): no lock, so receivers
never wait for each other and a dead one holds nothing; the delivery is durable when the call
answers. A receiver sends the deliveries that arrive while its previous call is in Redis together in
the next call (group commit, `AsyncGroup`), each grouped as if alone and answered on its own. The
script leaves an outbox entry for each assessment it asks for; the receiver turns it into an RQ job
at once, and `recover` (run every second by each receiver) does it for a receiver that died in
between.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Generator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import TypeAdapter
from pydantic_core import to_json
from redis.exceptions import RedisError

from responder.config import Config
from responder.intake.mapping import locate
from responder.intake.sources import Batch
from responder.lifecycle.flight import UNMAPPED, Scheduler
from responder.model.alert import Alert, utcnow
from responder.model.incident import Incident, new_id, second
from responder.store import Store
from responder.store.intake import MAX_ALERTS, AsyncGroup, Part

log = logging.getLogger("responder.intake")
RECOVER_AFTER_MS = 2000  # an outbox entry older than this lost its receiver
PART = MAX_ALERTS  # alerts per script call at most: a few milliseconds of Redis's time


@dataclass
class Accepted:
    accepted: int
    duplicates: int
    incidents: list[str] = field(default_factory=list)
    opened: bool = False  # the delivery opened an incident
    asked: bool = False  # it asked for an assessment (a new incident, or a change to re-assess)


def new_incident(now: datetime) -> Incident:
    return Incident(id=new_id(now), opened_at=now, updated_at=now)


_WHEN = TypeAdapter(datetime)
# an alert's stored JSON: `model_dump_json()` as bytes, without its Python wrapper's argument handling
_ALERT_JSON = Alert.__pydantic_serializer__.to_json


def _mapped_json(alert: Alert, server: str | None) -> bytes:
    """The stored JSON of `alert` mapped to `server`: `with_server(alert, server).model_dump_json()`,
    from its fields (in the model's order, each of its type) without building the copy."""
    return to_json({**alert.__dict__, "server": server}) if server else _ALERT_JSON(alert)


class FreshDoc:
    """A new incident's stored document, `new_incident(now).model_dump_json(exclude={"alerts"})` with
    the given id, as bytes, from a template dumped once: only the id and the two times differ, and a
    delivery that opens no incident (most of a storm) would otherwise pay the whole model for nothing."""

    _ID = "fresh-incident-id"
    _AT = datetime(1970, 1, 2, 3, 4, 5, 6, tzinfo=UTC)

    def __init__(self) -> None:
        doc = Incident(id=self._ID, opened_at=self._AT, updated_at=self._AT).model_dump_json(exclude={"alerts"})
        at = _WHEN.dump_json(self._AT).decode()
        iid = json.dumps(self._ID)
        if doc.count(iid) != 1 or doc.count(at) != 2:
            raise AssertionError(f"the incident document changed shape: {doc}")
        # the document cut at the id and at the times: (text before the hole, which hole follows it)
        pieces = re.split(f"({re.escape(iid)}|{re.escape(at)})", doc)
        self._pieces = [p.encode() for p in pieces[0::2]]
        self._holes = ["id" if p == iid else "at" for p in pieces[1::2]]

    def __call__(self, incident_id: str, now: datetime) -> bytes:
        fill = {"id": to_json(incident_id), "at": _WHEN.dump_json(now)}
        out = [self._pieces[0]]
        for hole, piece in zip(self._holes, self._pieces[1:], strict=True):
            out += (fill[hole], piece)
        return b"".join(out)


class Intake:
    """Accepts a batch of alerts: stores it, groups it, schedules assessments."""

    def __init__(self, store: Store, config: Config, schedule: Scheduler) -> None:
        self.store = store
        self.config = config
        self.schedule = schedule
        self.assess_on = frozenset(config.incidents.assess_on)
        self.wait_ms = int(config.incidents.group_wait * 1000)
        self.fresh_doc = FreshDoc()

    def accept(self, batch: Batch, body: bytes, meta: dict[str, Any] | None = None) -> Accepted:
        steps = self._steps(batch, body, meta)
        try:
            args = next(steps)
            while True:
                with self.store.guard():
                    answer = self.store.group_delivery(*args)
                    for iid, generation, when_ms in answer.get("due") or ():
                        self._queue(iid, generation, when_ms)
                args = steps.send(answer)
        except StopIteration as done:
            accepted: Accepted = done.value
            return accepted

    async def accept_async(self, group: AsyncGroup, batch: Batch, body: bytes,
                           meta: dict[str, Any] | None = None) -> Accepted:
        """`accept` with the script awaited on the event loop (the receiver's path). Queueing an
        assessment the script asked for (rare: a new incident or generation) stays in a thread."""
        steps = self._steps(batch, body, meta)
        loop = asyncio.get_running_loop()
        try:
            args = next(steps)
            while True:
                try:  # the store's guard, without a context manager per delivery
                    answer = await group(*args)
                except RedisError as exc:
                    unavailable = self.store.unavailable(exc)
                    if unavailable is None:
                        raise
                    raise unavailable from exc
                for iid, generation, when_ms in answer.get("due") or ():
                    await loop.run_in_executor(None, self._queue_guarded, iid, generation, when_ms)
                args = steps.send(answer)
        except StopIteration as done:
            accepted: Accepted = done.value
            return accepted

    def _steps(self, batch: Batch, body: bytes, meta: dict[str, Any] | None,
               ) -> Generator[Part, dict[str, Any], Accepted]:
        """The script calls of one delivery, each answer sent back in; the tally is the return value.
        The documents are built as the bytes Redis is sent (never a str encoded again)."""
        inv = self.config.inventory
        labels = self.config.intake.host_labels
        # each alert with the server it maps to (map_alerts without its copies: the server goes into
        # the plan and the stored JSON, which is the mapped copy's dump, without making the copy)
        mapped = [(a, *locate(a, inv, labels)) for a in batch.alerts]
        now = utcnow()
        now_text = now.isoformat()
        fresh_id = new_id(now)
        plan: dict[str, Any] = {
            "now_ms": int(now.timestamp() * 1000), "now": now_text,
            "wait_ms": self.wait_ms, "new_id": fresh_id, "own": "",
            "truncated": batch.truncated, "warnings": batch.warnings, "unmapped_key": UNMAPPED,
            "delivery_id": f"{second(now).replace('-', '')}{now.microsecond:06d}-{batch.source}",
        }
        new_doc = self.fresh_doc(fresh_id, now)
        # pydantic's serializer: the body, escaped as a JSON string, is most of the record
        delivery = to_json({"source": batch.source, "received_at": now_text, **(meta or {}),
                            "alerts": [a.key for a, _, _ in mapped],
                            "body": body.decode("utf-8", "replace")})
        opened = asked = False
        accepted = duplicates = 0
        incidents: set[str] = set()
        # a large delivery goes in parts, so no one script holds Redis for long; it is acknowledged
        # after the last, and a sender that retries after a crash finds the stored parts duplicates
        for start in range(0, max(len(mapped), 1), PART):
            part = mapped[start:start + PART]
            plan["alerts"] = [self._planned(a, server, note, inv.affected_by(server) if server else ())
                              for a, server, note in part]
            last = start + PART >= len(mapped)
            answer = yield plan, new_doc, delivery if last else b"", [_mapped_json(a, server) for a, server, _ in part]
            opened = opened or (bool(answer.get("created")) and answer["created"] != plan["own"])
            asked = asked or bool(answer.get("due"))
            plan["own"] = answer.get("created") or plan["own"]
            accepted += answer["accepted"]
            duplicates += answer["duplicates"]
            incidents.update(answer.get("incidents") or ())
        return Accepted(accepted=accepted, duplicates=duplicates, incidents=sorted(incidents), opened=opened,
                        asked=asked)

    def _planned(self, alert: Alert, server: str | None, note: str, clients: tuple[str, ...]) -> dict[str, Any]:
        assesses = alert.event in self.assess_on
        return {"k": alert.key, "i": alert.identity, "a": int(assesses),
                "s": alert.status, "c": list(clients), "u": alert.host if server is None else "",
                "n": note if assesses else alert.describe()}

    def _queue(self, incident_id: str, generation: int, when_ms: int) -> bool:
        when = datetime.fromtimestamp(when_ms / 1000, UTC)
        return self.store.take_due(incident_id, generation,
                                   lambda pipe: self.schedule(pipe, incident_id, generation, when))

    def _queue_guarded(self, incident_id: str, generation: int, when_ms: int) -> bool:
        with self.store.guard():
            return self._queue(incident_id, generation, when_ms)

    def recover(self) -> int:
        """Queue the assessments a receiver asked for but died before queueing; the number queued."""
        older = int(utcnow().timestamp() * 1000) - RECOVER_AFTER_MS
        with self.store.guard():
            done = sum(self._queue(iid, gen, when) for iid, gen, when in self.store.assessments_due(older))
        if done:
            log.warning("queued %d assessments a receiver had left in the outbox", done)
        return done
