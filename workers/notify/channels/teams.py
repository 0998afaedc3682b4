"""Microsoft Teams through a Workflows webhook ("When a Teams webhook request is received"): one
Adaptive Card 1.4 in `attachments`.

The card says, in this order: the subject in the severity's colour, the headline, what changed, a
FactSet of clients and one of failing services, the alerts, and a button to the incident page. Teams
refuses posts of about 28 KB; we keep the whole JSON body under 20 KB by listing fewer facts and
saying how many more there are (never by cutting the JSON).
"""

from __future__ import annotations

from typing import Any

from responder.config import Config
from workers.notify.channels.base import DeliveryError, Recipient, SendContext, webhook_recipients
from workers.notify.channels.http import encode, post_json
from workers.notify.markup import escape_teams, shorten
from workers.notify.render import Digest, Message

NAME = "teams"
MAX_BYTES = 20_000
COLOUR = {"critical": "attention", "degraded": "warning", "ok": "good"}
CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
MAX_ALERTS = 10
VALUE_CHARS = 400  # one fact's value, before escaping
TITLE_CHARS = 80  # one fact's title


def recipients(config: Config, client: str | None) -> list[Recipient]:
    own = config.chat.teams.url if config.chat.teams else None
    return webhook_recipients(config, client, NAME, own, lambda contacts: contacts.teams)


def _text(text: str, limit: int) -> str:
    return escape_teams(shorten(text, limit))


def _fact(title: str, value: str) -> dict[str, str]:
    return {"title": _text(title, TITLE_CHARS), "value": _text(value, VALUE_CHARS)}


def _heading(text: str) -> dict[str, Any]:
    return {"type": "TextBlock", "text": _text(text, 200), "weight": "Bolder", "spacing": "Medium", "wrap": True}


def _facts(heading: str, facts: list[dict[str, str]], hidden: int, more: str) -> list[dict[str, Any]]:
    if not facts and not hidden:
        return []
    if hidden:
        facts = [*facts, {"title": "…", "value": escape_teams(f"+{hidden} {more}")}]
    return [_heading(heading), {"type": "FactSet", "facts": facts}]


class _Sections:
    """Every fact the card could carry; `card(counts)` lists the first `counts[k]` of each kind."""

    def __init__(self, d: Digest, scope: str | None) -> None:
        self.d = d
        self.changes = [_fact(client, change) for client, change in d.changes]
        t = d.t
        self.clients = [_fact(c.client, f"{c.word}: {c.summary}"
                              + (f" ({t['maintenance']}: {c.maintenance})" if c.maintenance else ""))
                        for c in d.clients]
        self.services = [
            _fact(s.service if scope else f"{c.client} · {s.service}",
                  f"{s.word} {s.failing}/{s.total}: " + ", ".join(s.problems))
            for c in d.clients for s in c.services if s.problems
        ]
        self.alerts = []
        for line in d.alerts:  # "firing · host · name: summary"
            status, host, rest = [*line.split(" · ", 2), "", ""][:3]
            self.alerts.append(_fact(host or status, f"{status} · {rest}" if rest else status))

    def full(self) -> dict[str, int]:
        return {"changes": len(self.changes), "clients": len(self.clients), "services": len(self.services),
                "alerts": min(MAX_ALERTS, len(self.alerts))}

    def card(self, n: dict[str, int]) -> dict[str, Any]:
        d, t = self.d, self.d.t
        body: list[dict[str, Any]] = [{
            "type": "TextBlock", "text": _text(d.title, 300), "weight": "Bolder", "size": "Medium",
            "color": COLOUR.get(d.severity, "default"), "wrap": True,
        }]
        if d.headline:
            body.append({"type": "TextBlock", "text": _text(d.headline, 500), "wrap": True})
        if d.quiet:
            body.append({"type": "TextBlock", "text": _text(f"{t['quiet']}: {d.quiet}", 500), "wrap": True,
                         "isSubtle": True})
        if d.in_maintenance:
            body.append({"type": "TextBlock", "isSubtle": True, "wrap": True,
                         "text": _text(f"{t['in_maintenance']}: {', '.join(d.in_maintenance)}", 500)})
        body += _facts(t["changes"], self.changes[: n["changes"]], len(self.changes) - n["changes"],
                       t["more_changes"])
        body += _facts(t["clients"], self.clients[: n["clients"]], len(self.clients) - n["clients"],
                       t["more_clients"])
        body += _facts(t["services"], self.services[: n["services"]], len(self.services) - n["services"],
                       t["more_services"])
        body += _facts(t["alerts"], self.alerts[: n["alerts"]], len(self.alerts) - n["alerts"], t["more_alerts"])
        if d.unmapped:
            body.append({"type": "TextBlock", "text": _text(f"{t['unmapped']}: {', '.join(d.unmapped)}", 500),
                         "wrap": True, "isSubtle": True})
        return {
            "$schema": SCHEMA, "type": "AdaptiveCard", "version": "1.4", "body": body,
            "actions": [{"type": "Action.OpenUrl", "title": t["open"], "url": d.url}],
            "msteams": {"width": "Full"},
        }


def payload(card: dict[str, Any]) -> dict[str, Any]:
    return {"type": "message", "attachments": [{"contentType": CONTENT_TYPE, "contentUrl": None, "content": card}]}


def build(message: Message, limit: int = MAX_BYTES) -> bytes:
    """The request body: the fullest card whose JSON fits in `limit` bytes.

    Facts are given up in this order: services, alerts, clients, changes (what changed goes last:
    it is what a person reads first)."""
    assert message.digest is not None
    sections = _Sections(message.digest, message.scope)
    counts = sections.full()

    def size(n: dict[str, int]) -> int:
        return len(encode(payload(sections.card(n))))

    for kind in ("services", "alerts", "clients", "changes"):
        if size(counts) <= limit:
            break
        lo, hi = 0, counts[kind]
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if size({**counts, kind: mid}) <= limit:
                lo = mid
            else:
                hi = mid - 1
        counts[kind] = lo
    body = encode(payload(sections.card(counts)))
    if len(body) > limit:
        raise DeliveryError(f"the card does not fit in {limit} bytes even without facts")
    return body


async def send(ctx: SendContext, message: Message, delivery: Recipient) -> None:
    assert delivery.target is not None
    await post_json(ctx.session, delivery.target, build(message), policy=ctx.policy, label=delivery.to)
