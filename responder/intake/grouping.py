"""Grouping alerts into incidents: one incident per storm, one open incident per client.

Rules:
- every alert that arrives while an incident is gathering (its first `group_wait`) joins it: a storm
  is one event to a person;
- a client belongs to at most one open incident; a later alert touching it joins that incident and
  asks for a re-assessment;
- assessments are requested through the single-flight rule of `responder.lifecycle.flight`.

Intake stores alerts and schedules work in one MULTI/EXEC, under a short lock, before the sender is
acknowledged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from responder.config import Config
from responder.intake.mapping import map_alerts
from responder.intake.sources import Batch
from responder.lifecycle.flight import UNMAPPED, Scheduler, request_assessment
from responder.model.alert import Alert, utcnow
from responder.model.incident import Incident, new_id
from responder.store import RECORDED_ONLY, Store


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

    def accept(self, batch: Batch, body: bytes, meta: dict[str, Any] | None = None) -> Accepted:
        alerts = map_alerts(batch.alerts, self.config.inventory)
        with self.store.guard(), self.store.locked():
            now = utcnow()
            known = self.store.known_alert_keys([a.key for a in alerts])
            fresh = [a for a in alerts if a.key not in known]
            grouping = _Grouping(self.store, self.config, now)
            grouping.prefetch(fresh)
            placed = {a.key: grouping.place(a, batch) for a in fresh}
            with self.store.transaction() as pipe:
                grouping.save(pipe, self.schedule)
                for key, ids in placed.items():
                    self.store.put_alert_placement(pipe, key, ids)
                for a in fresh:
                    if placed[a.key]:
                        self.store.put_identity_incident(pipe, a.identity, placed[a.key][0])
                did = f"{now:%Y%m%d%H%M%S%f}-{batch.source}"
                self.store.put_delivery(pipe, did, {
                    "source": batch.source, "received_at": now.isoformat(), **(meta or {}),
                    "alerts": [a.key for a in alerts], "body": body.decode("utf-8", "replace"),
                })
        every = {i for found in placed.values() for i in found} | \
            {i for found in known.values() for i in found if i and i != RECORDED_ONLY}
        return Accepted(accepted=len(fresh), duplicates=len(alerts) - len(fresh), incidents=sorted(every))


class _Grouping:
    """The incidents one intake touches, and where each new alert goes."""

    def __init__(self, store: Store, config: Config, now: datetime) -> None:
        self.store = store
        self.config = config
        self.now = now
        self.wait = timedelta(seconds=config.incidents.group_wait)
        self.touched: dict[str, Incident] = {}
        self.pointers: dict[str, str] = {}  # client -> its open incident
        self.assess: set[str] = set()  # incidents to (re)assess
        self.gathering: Incident | None = None
        self.prefetched: set[str] = set()
        gid = store.gathering_incident()
        if gid:
            found = self.load(gid)
            if found and found.status == "open" and found.opened_at + self.wait > now:
                self.gathering = found

    def clients_of(self, alert: Alert) -> list[str]:
        return list(self.config.inventory.affected_by(alert.server)) if alert.server else []

    def prefetch(self, alerts: list[Alert]) -> None:
        """One round trip for every client's open incident, and one for those incidents."""
        clients = sorted({c for a in alerts for c in (self.clients_of(a) or [UNMAPPED])})
        self.pointers.update(self.store.open_incidents_of(clients))
        wanted = sorted(set(self.pointers.values()) - set(self.touched))
        for inc in self.store.get_incidents(wanted, alerts=False):
            self.touched[inc.id] = inc
        self.prefetched = set(clients)

    def load(self, incident_id: str) -> Incident | None:
        if incident_id not in self.touched:
            found = self.store.get_incident(incident_id, alerts=False)  # only new alerts are written
            if found is None:
                return None
            self.touched[incident_id] = found
        return self.touched[incident_id]

    def open_incident(self, client: str) -> Incident | None:
        if client not in self.pointers:
            if client in self.prefetched:
                return None  # looked up already: no open incident
            iid = self.store.open_incident_of(client)
            if iid is None:
                return None
            self.pointers[client] = iid
        inc = self.load(self.pointers[client])
        return inc if inc is not None and inc.status != "resolved" else None

    def start_gathering(self) -> Incident:
        if self.gathering is None:
            self.gathering = new_incident(self.now)
            self.touched[self.gathering.id] = self.gathering
        return self.gathering

    def place(self, alert: Alert, batch: Batch) -> list[str]:
        """Attach the alert to its incidents; the answer is their ids."""
        clients = self.clients_of(alert)
        keyed = clients or [UNMAPPED]
        assesses = alert.event in self.config.incidents.assess_on
        targets: list[Incident] = []
        homeless: list[str] = []
        for c in keyed:
            inc = self.open_incident(c)
            if inc is None:
                homeless.append(c)
            elif inc not in targets:
                targets.append(inc)
        if not assesses:
            # acknowledgements, downtimes, flapping, custom: recorded where they belong, no probe
            if not targets:
                last = self.store.identity_incident(alert.identity)
                found = self.load(last) if last else None
                targets = [found] if found else []
            for inc in targets:
                inc.note(alert.describe())
            return [inc.id for inc in targets]
        if homeless and not targets and alert.status == "resolved":
            # a late resolve of an incident already closed: record it there, nothing to re-check
            last = self.store.identity_incident(alert.identity)
            found = self.load(last) if last else None
            if found is not None and found.status == "resolved":
                found.add_alert(alert)
                return [found.id]
        if homeless:
            gathering = self.start_gathering()
            if gathering not in targets:
                targets.append(gathering)
            for c in homeless:
                self.pointers[c] = gathering.id
                if c != UNMAPPED and c not in gathering.affected:
                    gathering.affected.append(c)
        for inc in targets:
            inc.add_alert(alert)
            for c in clients:
                if self.pointers.get(c) == inc.id and c not in inc.affected:
                    inc.affected.append(c)
            if batch.truncated:
                inc.truncated = max(inc.truncated, batch.truncated)
            for w in batch.warnings:
                inc.note(w)
            self.assess.add(inc.id)
        return [inc.id for inc in targets]

    def save(self, pipe: Any, schedule: Scheduler) -> None:
        for inc in self.touched.values():
            if inc.id in self.assess:
                first = inc.assessed_generation == 0 and not inc.running
                when = inc.opened_at + self.wait if first else self.now + self.wait
                request_assessment(inc, max(when, self.now), pipe, schedule)
            self.store.put_incident(pipe, inc)
        for c, iid in self.pointers.items():
            self.store.put_open_incident(pipe, c, iid)
        g = self.gathering
        if g is not None and g.id in self.touched:
            ttl_ms = max(1, int(((g.opened_at + self.wait) - self.now).total_seconds() * 1000))
            self.store.put_gathering_incident(pipe, g.id, ttl_ms)
