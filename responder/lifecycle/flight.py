"""Single-flight assessments: at most one queued or running per incident; changes meanwhile mark it
dirty and coalesce into the next one. The join of an assessment settles the incident and queues the
notification in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from responder.config import Config
from responder.lifecycle import maintenance
from responder.lifecycle.settle import notification_due, settle
from responder.model.alert import utcnow
from responder.model.incident import Incident
from responder.model.verdict import ClientVerdict
from responder.store import Store

UNMAPPED = "_unmapped"  # the pointer an incident of unmapped alerts only is found by

# (pipe, incident_id, generation, when) -> None: puts the assessment job on the queue
Scheduler = Callable[[Any, str, int, datetime], None]


def request_assessment(incident: Incident, when: datetime, pipe: Any, schedule: Scheduler) -> None:
    """Single-flight: queue one assessment, or mark the running one dirty so another follows."""
    if incident.running:
        incident.dirty = True
        return
    if incident.pending:
        return
    incident.generation += 1
    incident.pending = True
    incident.due_at = when
    schedule(pipe, incident.id, incident.generation, when)


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


# (pipe, incident_id, state) -> None: puts the notify job on the queue
Notifier = Callable[[Any, str, str], None]


def finish_assessment(store: Store, config: Config, incident_id: str, generation: int,
                      clients: list[ClientVerdict], schedule: Scheduler, notify: Notifier) -> Incident:
    """Apply a finished assessment to the freshest copy of the incident; settle its status; queue the
    next assessment if alerts arrived while it ran, and the notification if the verdict changed."""
    def finish(inc: Incident | None, pipe: Any) -> Incident:
        if inc is None:
            raise LookupError(f"incident {incident_id} vanished")
        now = utcnow()
        names = [c.client for c in clients]
        previous = store.last_verdicts(names)
        settle(inc, [c.model_copy(deep=True) for c in clients], previous, maintenance.windows(store, config),
               config, now)
        inc.running = False
        inc.assessed_generation = generation
        if inc.dirty:
            inc.dirty = False
            request_assessment(inc, now + timedelta(seconds=config.incidents.group_wait), pipe, schedule)
        if inc.status == "resolved":
            mine = [c for c, iid in store.open_incidents_of([*inc.affected, UNMAPPED]).items()
                    if iid == inc.id]
            for client in mine:
                store.drop_open_incident(pipe, client)
        signature = notification_due(inc, config, now)
        if signature is not None:
            # numbered, so a return to an earlier picture (critical, ok, critical) is news again
            inc.notify_seq += 1
            state = f"{inc.notify_seq}-{signature}"
            inc.last_state = state
            inc.last_notified_at = now
            notify(pipe, inc.id, state)
        for verdict in inc.clients:
            store.put_last_verdict(pipe, verdict)
        store.put_incident(pipe, inc, alerts=False)
        return inc

    # optimistic, no lock: an alert that changes the incident meanwhile makes it run again on a fresh copy
    with store.guard():
        return store.update_incident(incident_id, finish)
