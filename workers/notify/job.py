"""Who hears about an incident, and the RQ job that tells them.

Routes pick channels by severity: the incident's for the config's own recipients (email.to and the
chat channels, who see the whole incident), each client's for that client's contacts (who see that
client's part only, so a message never shows one client's details to another client's contacts). A
channel that carried news of an incident also carries its recovery, whatever the routes say for `ok`.
A client's contacts hear nothing while the client is ok and unchanged, or under maintenance.

A message is sent once per incident state: the idempotency key is written before sending, so a retried
job skips what an earlier run sent. A failure that may pass (429, 5xx, a lost connection) releases its
key and makes the job fail, and RQ runs it again later; any other failure keeps its key as `failed`
until `responder notifications retry INCIDENT_ID` releases it and sends again. Every attempt is
recorded on the incident.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
from rq import get_current_job

from responder import config as config_module
from responder.config import Config
from responder.model.alert import utcnow
from responder.model.incident import Incident
from responder.model.verdict import ClientVerdict, NotificationRecord
from responder.store import Store
from workers.notify.channels import email, slack, teams, telegram
from workers.notify.channels.base import DEFAULT_POLICY, Channel, Context, Delivery, DeliveryError, RetryPolicy
from workers.notify.render import Message, render

__all__ = ["CHANNELS", "Delivery", "Outcome", "RetryLater", "deliver", "notify", "notify_job", "plan",
           "retry_failed"]

CHANNELS: dict[str, Channel] = {"email": email, "teams": teams, "slack": slack, "telegram": telegram}
USER_AGENT = "Responder notifier"


class RetryLater(Exception):
    """Some sends failed in a way that may pass: RQ runs the job again (sent ones are skipped)."""


# -- who ---------------------------------------------------------------------------------------------


def _sent_before(incident: Incident, client: str | None) -> list[str]:
    """Channels that already carried this incident to these recipients (the whole, or one client's)."""
    return list(dict.fromkeys(n.channel for n in incident.notifications if n.client == client and n.status == "sent"))


def _channels(routed: Sequence[str], before: Sequence[str]) -> list[str]:
    return list(dict.fromkeys([*routed, *before]))


def _concerns(incident: Incident, c: ClientVerdict) -> bool:
    """Whether the client's contacts should hear about this state."""
    if c.maintenance:
        return False
    return c.severity != "ok" or bool(c.changes) or bool(_sent_before(incident, c.client))


def plan(config: Config, incident: Incident) -> list[Delivery]:
    """Every recipient of this incident's current state, each at most once."""
    out: list[Delivery] = []
    for name in _channels(config.routes.for_severity(incident.severity or "ok"), _sent_before(incident, None)):
        if name in CHANNELS:
            out += CHANNELS[name].recipients(config, None)
    for c in incident.clients:
        if not _concerns(incident, c):
            continue
        for name in _channels(config.routes.for_severity(c.severity), _sent_before(incident, c.client)):
            if name in CHANNELS:
                out += CHANNELS[name].recipients(config, c.client)
    seen: set[tuple[str, str]] = set()
    unique = []
    for d in out:  # the whole incident first: a contact that is also a config recipient gets the whole
        if d.key not in seen:
            seen.add(d.key)
            unique.append(d)
    return unique


# -- how ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    delivery: Delivery
    record: NotificationRecord
    transient: bool = False  # failed, but worth retrying later


def _short(exc: BaseException) -> str:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return (first if isinstance(exc, DeliveryError) else f"{type(exc).__name__}: {first}")[:300]


async def attempt(config: Config, incident: Incident, deliveries: list[Delivery], *,
                  claim: Callable[[Delivery], bool] | None = None,
                  settle: Callable[[Delivery, str, bool], None] | None = None,
                  policy: RetryPolicy = DEFAULT_POLICY, state: str | None = None) -> list[Outcome]:
    """Render once per scope and send to every recipient on one shared HTTP session. A delivery whose
    claim fails was handled by an earlier run and is left out; failures become outcomes, not errors."""
    messages: dict[str | None, Message] = {}

    async def one(ctx: Context, d: Delivery) -> Outcome | None:
        if d.problem:
            return Outcome(d, NotificationRecord(channel=d.channel, to=d.to, status="skipped", at=utcnow(),
                                                 error=d.problem, client=d.scope, state=state))
        if claim is not None and not claim(d):
            return None
        transient = False
        try:
            if d.scope not in messages:
                messages[d.scope] = render(config, incident, scope=d.scope)
            channel = CHANNELS.get(d.channel)
            if channel is None:
                raise DeliveryError(f"channel {d.channel!r} is not available")
            await channel.send(ctx, messages[d.scope], d)
            status, error = "sent", None
        except DeliveryError as exc:
            status, error, transient = "failed", _short(exc), exc.transient
        except Exception as exc:
            status, error = "failed", _short(exc)
        if settle is not None:
            settle(d, status, transient)
        return Outcome(d, NotificationRecord(channel=d.channel, to=d.to, status=status, at=utcnow(),
                                             error=error, client=d.scope, state=state), transient)

    async with aiohttp.ClientSession(headers={"User-Agent": USER_AGENT}) as session:
        ctx = Context(config=config, session=session, policy=policy)
        found = await asyncio.gather(*(one(ctx, d) for d in deliveries))
    return [o for o in found if o is not None]


async def deliver(config: Config, incident: Incident, deliveries: list[Delivery],
                  claim: Callable[[Delivery], bool] | None = None,
                  mark: Callable[[Delivery, str], None] | None = None,
                  policy: RetryPolicy = DEFAULT_POLICY) -> list[NotificationRecord]:
    """Send without the ledger's retry rules (`check --notify`, `replay --notify`): records only."""
    settle = (lambda d, status, _transient: mark(d, status)) if mark is not None else None
    outcomes = await attempt(config, incident, deliveries, claim=claim, settle=settle, policy=policy)
    return [o.record for o in outcomes]


# -- the job -----------------------------------------------------------------------------------------


def _ledger(store: Store, incident_id: str, state: str,
            busy: list[Delivery] | None = None) -> tuple[Callable[[Delivery], bool],
                                                          Callable[[Delivery, str, bool], None]]:
    def claim(d: Delivery) -> bool:
        if store.claim_message(incident_id, state, d.channel, d.to):
            return True
        if busy is not None and store.message_status(incident_id, state, d.channel, d.to) == "sending":
            busy.append(d)  # an earlier run of this job died mid-send: try again once its claim is stale
        return False

    def settle(d: Delivery, status: str, transient: bool) -> None:
        if status == "failed" and transient:
            store.release_message(incident_id, state, d.channel, d.to)
        else:
            store.mark_message(incident_id, state, d.channel, d.to, status)

    return claim, settle


def _record(store: Store, incident_id: str, outcomes: list[Outcome]) -> None:
    if not outcomes:
        return
    def record(fresh: Incident | None, pipe: Any) -> None:  # only its notifications change
        if fresh is not None:
            fresh.notifications.extend(o.record for o in outcomes)
            store.put_incident(pipe, fresh, alerts=False)
            for o in outcomes:  # for /metrics: notifications by channel and status
                store.count("notifications", o.record.channel, o.record.status, pipe=pipe)

    with store.guard():
        store.update_incident(incident_id, record, alerts=False)


async def notify(store: Store, config: Config, incident_id: str, state: str,
                 policy: RetryPolicy = DEFAULT_POLICY) -> list[Outcome] | None:
    """Send the notifications of one state of one incident (None: the incident is gone). A state that
    a newer one superseded, or one under maintenance, is not sent: the news would be stale."""
    with store.guard():
        incident = store.get_incident(incident_id)
    if incident is None:
        return None
    if (incident.last_state is not None and incident.last_state != state) or incident.quiet:
        return []
    busy: list[Delivery] = []
    claim, settle = _ledger(store, incident_id, state, busy)
    outcomes = await attempt(config, incident, plan(config, incident), claim=claim, settle=settle, policy=policy,
                             state=state)
    _record(store, incident_id, outcomes)
    if busy:
        raise RetryLater(f"{len(busy)} held by a sender that did not finish: "
                         + ", ".join(f"{d.channel} {d.to}" for d in busy))
    return outcomes


def notify_job(incident_id: str, state: str) -> str:
    """RQ job: send the notifications for one state of one incident."""
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
    """Send again what failed for the incident's latest notified state; raises LookupError when the
    incident does not exist."""
    with store.guard():
        incident = store.get_incident(incident_id)
    if incident is None:
        raise LookupError(f"no incident {incident_id!r}")
    state = incident.last_state
    latest: dict[tuple[str, str], NotificationRecord] = {}
    for n in incident.notifications:
        if state is not None and n.state == state:
            latest[(n.channel, n.to)] = n
    failed = {k for k, n in latest.items() if n.status == "failed"}
    if state is None or not failed:
        return Retried([], [], [])
    deliveries = [d for d in plan(config, incident) if (d.channel, d.to) in failed]
    gone = sorted(f"{c} {to}" for c, to in failed - {(d.channel, d.to) for d in deliveries})
    ready: list[Delivery] = []
    with store.guard():
        for d in deliveries:
            if store.message_status(incident_id, state, d.channel, d.to) == "failed":
                store.release_message(incident_id, state, d.channel, d.to)
            ready.append(d)
    held: list[Delivery] = []  # still claimed by a send in progress (a dead sender's claim goes stale)
    claim, settle = _ledger(store, incident_id, state, held)
    outcomes = await attempt(config, incident, ready, claim=claim, settle=settle, policy=policy, state=state)
    _record(store, incident_id, outcomes)
    busy = [f"{d.channel} {d.to}" for d in held]
    return Retried(outcomes, busy, gone)
