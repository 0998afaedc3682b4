"""Who hears about an incident, and the RQ job that tells them.

Routes pick channels by severity; each client's contacts get that client's part only, so a message
never shows one client's details to another client's contacts. A message is sent once per incident
state: the idempotency key is written before sending.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from rq import get_current_job

from responder import config as config_module
from responder.alerts import utcnow
from responder.config import Config
from responder.incident import Incident
from responder.store import Store
from responder.verdict import NotificationRecord
from workers.notify import email
from workers.notify.render import Message, render


@dataclass(frozen=True)
class Delivery:
    channel: str
    to: str  # an address, or a label for a webhook (never the secret URL itself)
    scope: str | None = None  # the client whose part this recipient may see
    target: str | None = None  # where to send when it differs from `to` (a webhook URL)


def plan(config: Config, incident: Incident) -> list[Delivery]:
    """Every recipient of this incident's current severity, each at most once."""
    out: list[Delivery] = []
    channels = config.routes.for_severity(incident.severity or "ok")
    for channel in channels:
        if channel == "email" and config.email is not None:
            out += [Delivery("email", to) for to in config.email.to]
            for c in incident.clients:
                client = config.inventory.clients.get(c.client)
                if client:
                    out += [Delivery("email", to, scope=c.client) for to in client.contacts.email]
    seen: set[tuple[str, str]] = set()
    unique = []
    for d in out:
        if (d.channel, d.to) not in seen:
            seen.add((d.channel, d.to))
            unique.append(d)
    return unique


Sender = Callable[[Config, Message, Delivery], Awaitable[None]]


async def _send_email(config: Config, message: Message, d: Delivery) -> None:
    assert config.email is not None
    await email.send(config.email, message, d.to)


SENDERS: dict[str, Sender] = {"email": _send_email}


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:300]


async def deliver(config: Config, incident: Incident, deliveries: list[Delivery],
                  claim: Callable[[Delivery], bool] | None = None,
                  mark: Callable[[Delivery, str], None] | None = None) -> list[NotificationRecord]:
    """Render once per scope and send to every recipient; failures become records, not exceptions."""
    messages: dict[str | None, Message] = {}
    records: list[NotificationRecord] = []

    async def one(d: Delivery) -> None:
        if claim is not None and not claim(d):
            return
        sender = SENDERS.get(d.channel)
        if d.scope not in messages:
            messages[d.scope] = render(config, incident, scope=d.scope)
        try:
            if sender is None:
                raise RuntimeError(f"channel {d.channel!r} is not available")
            await sender(config, messages[d.scope], d)
            status, error = "sent", None
        except Exception as exc:
            status, error = "failed", _short(exc)
        if mark is not None:
            mark(d, status)
        records.append(NotificationRecord(channel=d.channel, to=d.to, status=status, at=utcnow(),
                                          error=error, client=d.scope))

    await asyncio.gather(*(one(d) for d in deliveries))
    return records


def notify_job(incident_id: str, state: str) -> str:
    """RQ job: send the notifications for one state of one incident."""
    config = config_module.current()
    job = get_current_job()
    assert job is not None, "notify_job runs inside an RQ worker"
    store = Store(job.connection)
    incident = store.get_incident(incident_id)
    if incident is None:
        return "incident gone"
    deliveries = plan(config, incident)
    records = asyncio.run(deliver(
        config, incident, deliveries,
        claim=lambda d: store.claim_message(incident_id, state, d.channel, d.to),
        mark=lambda d, status: store.mark_message(incident_id, state, d.channel, d.to, status),
    ))
    for r in records:
        r.state = state
    if records:
        with store.guard(), store.locked():
            fresh = store.get_incident(incident_id)
            if fresh is not None:
                fresh.notifications.extend(records)
                with store.transaction() as pipe:
                    store.put_incident(pipe, fresh)
    sent = sum(r.status == "sent" for r in records)
    return f"{sent} sent, {len(records) - sent} failed"
