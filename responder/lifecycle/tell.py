"""Who hears about an assessment, and why: the pure rules behind every message.

There are two kinds of recipient scope: the NOC (the config's own `email.to` and chat channels) sees
the whole incident; each client's contacts see that client's part. Each scope has its own picture
(`View`), compared with the one it was last told (`Told`), so
- a contact hears nothing when only another client changed;
- nothing about a client inside a maintenance window reaches anyone: the NOC's picture names it under
  "in maintenance" without its verdict, and its contacts are silent until the window ends;
- every message has reasons (first verdict, what changed, resolved but still failing, maintenance
  started or ended, reminder, recovered), and the cooldown suppresses only a message whose reasons and
  picture are both what that scope was last told.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from responder.config import IncidentsConfig
from responder.model.incident import NOC, Incident, Reason, Told, View
from responder.model.verdict import ClientVerdict

ORDER: tuple[Reason, ...] = ("recovered", "resolved_failing", "maintenance_ended", "maintenance_started",
                             "changed", "first", "reminder", "by_hand")


def _picture(verdicts: list[ClientVerdict]) -> str:
    parts = []
    for c in sorted(verdicts, key=lambda c: c.client):
        failing = sorted(f"{s.service}@{k.server}" for s in c.services for k in s.checks if not k.ok)
        slow = sorted(f"{s.service}@{k.server}" for s in c.services for k in s.checks if k.ok and k.slow)
        parts.append(f"{c.client}={c.severity}:{','.join(failing)}:{','.join(slow)}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


_EMPTY = _picture([])


def noc_view(incident: Incident) -> View:
    """The whole incident, less the clients inside a window (named, never described)."""
    told = [c for c in incident.clients if not c.maintenance]
    return View(content=_picture(told), failing=any(c.severity != "ok" for c in told),
                resolved=bool(incident.alerts) and incident.all_resolved, closed=incident.status == "resolved",
                maintenance=tuple(sorted(c.client for c in incident.clients if c.maintenance)))


def client_view(incident: Incident, verdict: ClientVerdict) -> View:
    return View(content=_picture([verdict]), failing=verdict.severity != "ok",
                resolved=bool(incident.alerts) and incident.all_resolved, closed=incident.status == "resolved",
                maintenance=(verdict.client,) if verdict.maintenance else ())


def decide(told: Told | None, view: View, *, client: bool, rules: IncidentsConfig, now: datetime) -> list[Reason]:
    """Why this scope should hear about `view` now, or [] when it should not."""
    if client and view.maintenance:
        return []  # maintenance is silence for the client's own people
    before = told.view if told is not None else None
    back = told is not None and told.silenced  # a client whose window has just ended
    reasons: list[Reason] = []
    if before is None:
        if client and not view.failing:
            return []  # contacts hear nothing of a client that is fine and was never in trouble
        if not client and view.maintenance and view.content == _EMPTY:
            return []  # every client it would hear about is inside a window: a first message says nothing
        first: list[Reason] = ["first", "maintenance_ended"] if back else ["first"]
        return _ordered(first)
    if client:
        if before.failing and not view.failing:
            reasons.append("recovered")
        elif back:
            reasons.append("maintenance_ended")
    else:
        if view.closed and not before.closed:
            reasons.append("recovered")
        if set(before.maintenance) - set(view.maintenance):
            reasons.append("maintenance_ended")
        if set(view.maintenance) - set(before.maintenance):
            reasons.append("maintenance_started")
    if view.failing and view.resolved and not (before.failing and before.resolved):
        reasons.append("resolved_failing")
    if view.content != before.content and "recovered" not in reasons:
        reasons.append("changed")
    since = now - told.at if told is not None and told.at is not None else timedelta(0)
    if not reasons and view.failing and rules.repeat and since >= timedelta(seconds=rules.repeat):
        reasons.append("reminder")
    reasons = _ordered(reasons)
    if told is not None and reasons == told.reasons and view == before and \
            since < timedelta(seconds=rules.cooldown):
        return []  # the same message to the same people, again within the cooldown
    return reasons


def _ordered(reasons: list[Reason]) -> list[Reason]:
    return sorted(dict.fromkeys(reasons), key=ORDER.index)


def tell(incident: Incident, rules: IncidentsConfig, now: datetime) -> dict[str, list[Reason]]:
    """Decide every scope's message for the incident's current picture and record it on `incident.told`
    under one new notify batch (`incident.notify_seq`); the answer is the scopes due, with their reasons."""
    views = {NOC: noc_view(incident)} | {c.client: client_view(incident, c) for c in incident.clients}
    due: dict[str, list[Reason]] = {}
    for scope, view in views.items():
        told = incident.told.get(scope)
        reasons = decide(told, view, client=scope != NOC, rules=rules, now=now)
        if reasons:
            due[scope] = reasons
        elif scope != NOC:
            incident.told[scope] = (told or Told()).model_copy(update={"silenced": bool(view.maintenance)})
    if not due:
        return due
    incident.notify_seq += 1
    for scope, reasons in due.items():
        before = incident.told.get(scope) or Told()
        incident.told[scope] = Told(view=views[scope], reasons=reasons, at=now, seq=before.seq + 1,
                                    batch=incident.notify_seq, silenced=False, notes_from=before.notes_to,
                                    notes_to=len(incident.notes))
    incident.last_notified_at = now
    return due


def batch_of(incident: Incident, batch: int) -> dict[str, Told]:
    """The scopes a notify job carries: those whose latest message was decided in its batch (a newer
    decision supersedes an older job's message, which would be stale news)."""
    return {scope: t for scope, t in incident.told.items() if t.batch == batch and t.view is not None}
