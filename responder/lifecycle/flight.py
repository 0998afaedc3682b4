"""Single-flight assessments: at most one queued or running per incident; changes meanwhile mark it
dirty and coalesce into the next one. The join of an assessment settles the incident, decides who is
told what (tell.py), queues that notification and the next look (the re-check while a client fails, a
window's start or end), and closes the incident once it is over, all in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from responder.config import Config
from responder.lifecycle import maintenance
from responder.lifecycle.settle import next_look, settle
from responder.lifecycle.tell import tell
from responder.model.alert import utcnow
from responder.model.incident import Incident
from responder.model.verdict import ClientVerdict
from responder.runtime.logs import about
from responder.store import Store

UNMAPPED = "_unmapped"  # the pointer an incident of unmapped alerts only is found by

# (pipe, incident_id, generation, when) -> None: puts the assessment job on the queue
Scheduler = Callable[[Any, str, int, datetime], None]


def request_assessment(incident: Incident, when: datetime, pipe: Any, schedule: Scheduler) -> None:
    """Single-flight: queue one assessment by `when`, or mark the running one dirty so another follows.
    A queued one due later (a re-check in minutes) is superseded by a newer generation: its job finds
    itself stale when it starts."""
    if incident.running:
        incident.dirty = True
        return
    if incident.pending and (incident.due_at is None or incident.due_at <= when):
        return
    incident.generation += 1
    incident.pending = True
    incident.due_at = when
    schedule(pipe, incident.id, incident.generation, when)


def reassess(store: Store, schedule: Scheduler, clients: list[str], when: datetime) -> list[str]:
    """Assess, by `when`, every open incident holding one of these clients (a window opened or ended, a
    re-check asked for by hand); the answer is their ids."""
    def ask(inc: Incident | None, pipe: Any) -> str | None:
        if inc is None or inc.status == "resolved":
            return None
        request_assessment(inc, when, pipe, schedule)
        store.put_incident(pipe, inc, alerts=False)
        return inc.id

    with store.guard():
        ids = sorted(set(store.open_incidents_of(clients).values()))
        return [found for i in ids if (found := store.update_incident(i, ask, alerts=False, verdicts=False))
                is not None]


def recheck(store: Store, schedule: Scheduler, incident_id: str, when: datetime) -> Incident:
    """Assess this open incident by `when`; LookupError when it is unknown or over."""
    def ask(inc: Incident | None, pipe: Any) -> Incident:
        if inc is None:
            raise LookupError(f"no incident {incident_id!r}")
        if inc.status == "resolved":
            raise LookupError(f"incident {incident_id} is closed; a new alert opens a new one")
        request_assessment(inc, when, pipe, schedule)
        store.put_incident(pipe, inc, alerts=False)
        return inc

    with store.guard():
        return store.update_incident(incident_id, ask, alerts=False, verdicts=False)


def begin_assessment(store: Store, incident_id: str, generation: int) -> Incident | None:
    """Mark the assessment running; None when a newer generation supersedes this job."""

    def begin(inc: Incident | None, pipe: Any) -> Incident | None:
        if inc is None or generation < inc.generation:
            return None
        inc.pending = False
        inc.running = True
        store.put_incident(pipe, inc, alerts=False)
        return inc

    with store.guard():
        return store.update_incident(incident_id, begin)


# (pipe, incident_id, batch) -> None: puts the notify job on the queue (the batch names Told.batch)
Notifier = Callable[[Any, str, str], None]


def finish_assessment(store: Store, config: Config, incident_id: str, generation: int,
                      clients: list[ClientVerdict], schedule: Scheduler, notify: Notifier) -> Incident:
    """Apply a finished assessment to the freshest copy of the incident; settle its status; queue the
    next assessment (soon if alerts arrived while it ran, else at its next look) and the notification
    of every scope with news; close it when every client passes and every alert is resolved."""

    def finish(inc: Incident | None, pipe: Any) -> Incident:
        if inc is None:
            raise LookupError(f"incident {incident_id} vanished")
        now = utcnow()
        names = [c.client for c in clients]
        previous = store.last_verdicts(names)
        windows = maintenance.windows(store, config)
        # copies: this may run again on a fresher incident, and settle sets each verdict's `changes`
        # and `maintenance` (nothing nested: a shallow copy is enough, where a deep one of 2,864
        # clients' checks cost ~20 MB at the join's peak)
        settle(inc, [c.model_copy() for c in clients], previous, windows, config, now)
        inc._verdicts_left = False  # read without the old verdicts; settle gave it the new ones to write
        inc.running = False
        inc.assessed_generation = generation
        if inc.dirty:
            inc.dirty = False
            request_assessment(inc, now + timedelta(seconds=config.incidents.group_wait), pipe, schedule)
        else:
            look = next_look(inc, windows, config, now)
            if look is not None:
                request_assessment(inc, look, pipe, schedule)
        if inc.status == "resolved":
            # a closed incident is never joined again: the next alert opens a new one
            mine = [c for c, iid in store.open_incidents_of([*inc.affected, UNMAPPED]).items() if iid == inc.id]
            for client in mine:
                store.drop_open_incident(pipe, client)
        if tell(inc, config.incidents, now):
            notify(pipe, inc.id, str(inc.notify_seq))
        store.put_incident(pipe, inc, alerts=False, last=True)
        return inc

    # optimistic, no lock: an alert that changes the incident meanwhile makes it run again on a fresh copy
    with store.guard(), about(incident_id):
        return store.update_incident(incident_id, finish, verdicts=False)
