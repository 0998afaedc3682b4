"""The RQ job that tells an incident's recipients, and `responder notifications retry`.

A notify job carries one batch of decisions (responder/lifecycle/tell.py): the scopes whose latest
message was decided in it, each with its reasons. Each scope's recipients (recipients.py) get one
message rendered for that scope (render.py), once: the ledger (ledger.py) holds an idempotency key per
recipient and state, written before sending. A scope decided again by a newer batch is left to that
batch's job: the older news would be stale. Every attempt is recorded on the incident.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
from rq import get_current_job

from responder import config as config_module
from responder.config import Config
from responder.lifecycle.tell import batch_of
from responder.model.alert import utcnow
from responder.model.incident import NOC, Incident
from responder.model.verdict import NotificationRecord
from responder.runtime.logs import incident_job
from responder.store import Store
from workers.notify.channels.base import DEFAULT_POLICY, DeliveryError, Recipient, RetryPolicy, SendContext
from workers.notify.ledger import Ledger
from workers.notify.recipients import CHANNELS, plan
from workers.notify.render import Message, render

__all__ = [
    "CHANNELS",
    "Outcome",
    "Recipient",
    "RetryLater",
    "notify",
    "notify_job",
    "plan",
    "retry_failed",
    "send_all",
]

USER_AGENT = "Responder notifier"


class RetryLater(Exception):
    """Some sends failed in a way that may pass: RQ runs the job again (sent ones are skipped)."""


@dataclass(frozen=True)
class Outcome:
    delivery: Recipient
    record: NotificationRecord
    transient: bool = False  # failed, but worth retrying later


@dataclass(frozen=True)
class Why:
    """What one scope's message is: its ledger state, its reasons, and the notes it reports."""

    state: str | None = None
    reasons: Sequence[str] = ()
    news: Sequence[str] = ()


def _short(exc: BaseException) -> str:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return (first if isinstance(exc, DeliveryError) else f"{type(exc).__name__}: {first}")[:300]


async def attempt(config: Config, incident: Incident, wanted: list[Recipient], *,
                  ledger: Ledger | None = None, why: Mapping[str | None, Why] | None = None,
                  policy: RetryPolicy = DEFAULT_POLICY) -> list[Outcome]:
    """Render once per scope and send to every recipient on one shared HTTP session. A delivery the
    ledger will not let us claim was handled by an earlier run and is left out; failures become
    outcomes, not errors."""
    messages: dict[str | None, Message] = {}
    whys = why or {}

    async def one(ctx: SendContext, d: Recipient) -> Outcome | None:
        w = whys.get(d.scope, Why())
        if d.problem:
            return Outcome(d, NotificationRecord(channel=d.channel, to=d.to, status="skipped", at=utcnow(),
                                                 error=d.problem, client=d.scope, state=w.state))
        if ledger is not None and w.state is not None and not ledger.claim(d, w.state):
            return None
        transient = False
        try:
            if d.scope not in messages:
                messages[d.scope] = render(config, incident, scope=d.scope, reasons=w.reasons, news=w.news)
            channel = CHANNELS.get(d.channel)
            if channel is None:
                raise DeliveryError(f"channel {d.channel!r} is not available")
            await channel.send(ctx, messages[d.scope], d)
            status, error = "sent", None
        except DeliveryError as exc:  # `unknown`: the server may have it; kept claimed, never resent
            status, error, transient = "unknown" if exc.uncertain else "failed", _short(exc), exc.transient
        except Exception as exc:
            status, error = "failed", _short(exc)
        if ledger is not None and w.state is not None:
            ledger.record(d, w.state, status, transient)
        return Outcome(d, NotificationRecord(channel=d.channel, to=d.to, status=status, at=utcnow(),
                                             error=error, client=d.scope, state=w.state), transient)

    async with aiohttp.ClientSession(headers={"User-Agent": USER_AGENT}) as session:
        ctx = SendContext(config=config, session=session, policy=policy)
        found = await asyncio.gather(*(one(ctx, d) for d in wanted))
    return [o for o in found if o is not None]


async def send_all(config: Config, incident: Incident, wanted: list[Recipient],
                  policy: RetryPolicy = DEFAULT_POLICY) -> list[NotificationRecord]:
    """Send without the ledger (`check --notify`, `replay --notify`): records only."""
    every = {d.scope: Why(reasons=["by_hand"]) for d in wanted}
    return [o.record for o in await attempt(config, incident, wanted, why=every, policy=policy)]


def _interrupted(ledger: Ledger) -> list[Outcome]:
    """The sends a dead sender left mid-way: they may have arrived (`unknown`); this run sent again."""
    return [Outcome(d, NotificationRecord(channel=d.channel, to=d.to, status="unknown", at=utcnow(), client=d.scope,
                                          state=state, error="its sender stopped mid-send; it may have arrived, "
                                          "and was sent again")) for d, state in ledger.taken]


def _record(store: Store, incident_id: str, outcomes: list[Outcome]) -> None:
    if not outcomes:
        return
    def record(fresh: Incident | None, pipe: Any) -> None:  # only its notifications change
        if fresh is not None:
            fresh.notifications.extend(o.record for o in outcomes)
            store.put_incident(pipe, fresh, alerts=False)
            for o in outcomes:  # for /metrics: notifications by channel and status
                store.count("notifications", o.record.channel, o.record.status, pipe=pipe)

    with store.guard():  # the verdicts are neither read nor written again: only the records change
        store.update_incident(incident_id, record, alerts=False, verdicts=False)


def _key(scope: str) -> str | None:
    return None if scope == NOC else scope


def _whys(incident: Incident, scopes: Mapping[str, object] | None = None) -> dict[str | None, Why]:
    """Each scope's latest message (of `scopes`, or every scope ever told)."""
    out: dict[str | None, Why] = {}
    for scope, t in incident.told.items():
        if t.view is None or (scopes is not None and scope not in scopes):
            continue
        news = incident.notes[t.notes_from:t.notes_to] if scope == NOC else []
        out[_key(scope)] = Why(t.state(scope), list(t.reasons), news)
    return out


def _with_verdicts(store: Store, incident: Incident) -> Incident | None:
    """The incident read without its verdicts, given them; read whole again when a newer assessment
    wrote others meanwhile (None: it is gone)."""
    with store.guard():
        return incident if store.read_verdicts(incident) else store.get_incident(incident.id)


def _anyone(config: Config, scopes: Collection[str]) -> bool:
    """Whether any channel has a recipient for one of these scopes, whatever the verdicts say (`plan`
    picks among them by severity): with none, there is nothing to render or send."""
    return any(channel.recipients(config, _key(scope)) for scope in scopes for channel in CHANNELS.values())


def _legacy(incident: Incident, state: str) -> bool:
    """A job queued before per-scope messages (one state for the whole incident): sent while current."""
    return not state.isdigit() and incident.last_state == state and not incident.quiet


async def notify(store: Store, config: Config, incident_id: str, state: str,
                 policy: RetryPolicy = DEFAULT_POLICY) -> list[Outcome] | None:
    """Send one notify batch of one incident (None: the incident is gone). The verdicts (most of an
    outage's incident: ~60 MB of models at 2,864 clients) are read only once the batch has someone to
    tell."""
    with store.guard():
        incident = store.get_incident(incident_id, verdicts=False)
    if incident is None:
        return None
    if state.isdigit():
        if not _anyone(config, batch_of(incident, int(state))):
            return []
        incident = _with_verdicts(store, incident)
        if incident is None:
            return None
        scopes = batch_of(incident, int(state))
        if not scopes:
            return []
        wanted = plan(config, incident, scopes)
        why = _whys(incident, scopes)
    elif _legacy(incident, state):
        incident = _with_verdicts(store, incident)
        if incident is None:
            return None
        wanted = plan(config, incident)
        why = {d.scope: Why(state) for d in wanted}
    else:
        return []
    ledger = Ledger(store, incident_id)
    outcomes = await attempt(config, incident, wanted, ledger=ledger, why=why, policy=policy)
    outcomes = [*_interrupted(ledger), *outcomes]
    _record(store, incident_id, outcomes)
    if ledger.busy:
        raise RetryLater(f"{len(ledger.busy)} held by a sender that did not finish: "
                         + ", ".join(f"{d.channel} {d.to}" for d in ledger.busy))
    return outcomes


@incident_job
def notify_job(incident_id: str, state: str) -> str:
    """RQ job: send one notify batch of one incident."""
    config = config_module.current()
    job = get_current_job()
    assert job is not None, "notify_job runs inside an RQ worker"
    outcomes = asyncio.run(notify(Store(job.connection), config, incident_id, state))
    if outcomes is None:
        return "incident gone"
    failed = [o for o in outcomes if o.record.status == "failed"]
    later = [o for o in failed if o.transient]
    if later:
        raise RetryLater("; ".join(f"{o.record.channel} {o.record.to}: {o.record.error}" for o in later)[:1000])
    return f"{len(outcomes) - len(failed)} sent or skipped, {len(failed)} failed"


@dataclass(frozen=True)
class Retried:
    outcomes: list[Outcome]
    busy: list[str]  # still claimed by a send in progress (or one that died mid-way): not resent
    gone: list[str]  # failed, but no longer recipients under the current config


async def retry_failed(store: Store, config: Config, incident_id: str,
                       policy: RetryPolicy = DEFAULT_POLICY) -> Retried:
    """Send again what failed in each scope's latest message; raises LookupError when the incident does
    not exist."""
    with store.guard():
        incident = store.get_incident(incident_id)
    if incident is None:
        raise LookupError(f"no incident {incident_id!r}")
    why = _whys(incident)
    if not why and incident.last_state is not None:  # told before per-scope messages
        why = {None: Why(incident.last_state)} | {c.client: Why(incident.last_state) for c in incident.clients}
    states = {w.state for w in why.values()}
    latest: dict[tuple[str, str], NotificationRecord] = {}
    for n in incident.notifications:
        if n.state in states:
            latest[(n.channel, n.to)] = n
    failed = {k for k, n in latest.items() if n.status == "failed"}
    if not failed:
        return Retried([], [], [])
    wanted = [d for d in plan(config, incident, {NOC if s is None else s for s in why})
                  if (d.channel, d.to) in failed and d.scope in why]
    gone = sorted(f"{c} {to}" for c, to in failed - {(d.channel, d.to) for d in wanted})
    ledger = Ledger(store, incident_id)
    with store.guard():
        for d in wanted:
            state = why[d.scope].state
            if state is not None and ledger.status(d, state) == "failed":
                ledger.release(d, state)
    outcomes = await attempt(config, incident, wanted, ledger=ledger, why=why, policy=policy)
    _record(store, incident_id, outcomes)
    return Retried(outcomes, [f"{d.channel} {d.to}" for d in ledger.busy], gone)
