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

The rules run inside Redis, as one script per delivery (responder/store/intake.lua): no lock, so
receivers never wait for each other and a dead one holds nothing; the delivery is durable when the
script answers. The script leaves an outbox entry for each assessment it asks for; the receiver turns
it into an RQ job at once, and `recover` (run every second by each receiver) does it for a receiver
that died in between.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Generator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from responder.config import Config
from responder.intake.mapping import map_alerts
from responder.intake.sources import Batch
from responder.lifecycle.flight import UNMAPPED, Scheduler
from responder.model.alert import Alert, utcnow
from responder.model.incident import Incident, new_id
from responder.store import Store
from responder.store.intake import AsyncGroup

log = logging.getLogger("responder.intake")
RECOVER_AFTER_MS = 2000  # an outbox entry older than this lost its receiver
PART = 500  # alerts per script: a few milliseconds of Redis's time


@dataclass
class Accepted:
    accepted: int
    duplicates: int
    incidents: list[str] = field(default_factory=list)


def new_incident(now: datetime) -> Incident:
    return Incident(id=new_id(now), opened_at=now, updated_at=now)


class Intake:
    """Accepts a batch of alerts: stores it, groups it, schedules assessments."""

    def __init__(self, store: Store, config: Config, schedule: Scheduler) -> None:
        self.store = store
        self.config = config
        self.schedule = schedule
        self.assess_on = frozenset(config.incidents.assess_on)

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
                with self.store.guard():
                    answer = await group(*args)
                for iid, generation, when_ms in answer.get("due") or ():
                    await loop.run_in_executor(None, self._queue_guarded, iid, generation, when_ms)
                args = steps.send(answer)
        except StopIteration as done:
            accepted: Accepted = done.value
            return accepted

    def _steps(self, batch: Batch, body: bytes, meta: dict[str, Any] | None,
               ) -> Generator[tuple[dict[str, Any], str, str, list[str]], dict[str, Any], Accepted]:
        """The script calls of one delivery, each answer sent back in; the tally is the return value."""
        mapped = map_alerts(batch.alerts, self.config.inventory, self.config.intake.host_labels)
        now = utcnow()
        fresh = new_incident(now)
        inv = self.config.inventory
        plan: dict[str, Any] = {
            "now_ms": int(now.timestamp() * 1000), "now": now.isoformat(),
            "wait_ms": int(self.config.incidents.group_wait * 1000), "new_id": fresh.id, "own": "",
            "truncated": batch.truncated, "warnings": batch.warnings, "unmapped_key": UNMAPPED,
            "delivery_id": f"{now:%Y%m%d%H%M%S%f}-{batch.source}",
        }
        new_doc = fresh.model_dump_json(exclude={"alerts"})
        delivery = json.dumps({"source": batch.source, "received_at": now.isoformat(), **(meta or {}),
                               "alerts": [m.alert.key for m in mapped], "body": body.decode("utf-8", "replace")})
        accepted = duplicates = 0
        incidents: set[str] = set()
        # a large delivery goes in parts, so no one script holds Redis for long; it is acknowledged
        # after the last, and a sender that retries after a crash finds the stored parts duplicates
        for start in range(0, max(len(mapped), 1), PART):
            part = mapped[start:start + PART]
            plan["alerts"] = [self._planned(m.alert, m.note, inv.affected_by(m.alert.server) if m.alert.server
                                            else ()) for m in part]
            last = start + PART >= len(mapped)
            answer = yield plan, new_doc, delivery if last else "", [m.alert.model_dump_json() for m in part]
            plan["own"] = answer.get("created") or plan["own"]
            accepted += answer["accepted"]
            duplicates += answer["duplicates"]
            incidents.update(answer.get("incidents") or ())
        return Accepted(accepted=accepted, duplicates=duplicates, incidents=sorted(incidents))

    def _planned(self, alert: Alert, note: str, clients: tuple[str, ...]) -> dict[str, Any]:
        assesses = alert.event in self.assess_on
        return {"k": alert.key, "i": alert.identity, "a": int(assesses),
                "s": alert.status, "c": list(clients), "u": alert.host if alert.server is None else "",
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
