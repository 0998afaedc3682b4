"""Local stand-ins for the chat services we cannot run here: a Teams Workflows webhook, Slack (or
Mattermost) incoming webhooks, and the Telegram Bot API's sendMessage. One real aiohttp server on
loopback that checks every payload's shape and size the way the real service would refuse it, keeps
what it received, and answers what a test scripts (a 503, a 429 with Retry-After, ...).

    /teams/{name}?sig=...          Teams: Adaptive Card 1.4 in attachments, body under 20 KB
    /slack/{name}                  Slack: text + blocks within Block Kit's limits, or text only (plain)
    /bot{token}/sendMessage        Telegram: chat_id, HTML parse mode, well-formed, <= 4096 characters
"""

from __future__ import annotations

import json
import re
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from aiohttp import web

from tests.support.fleet import free_port

TELEGRAM_TOKEN = "123456:TEST-token-secret"
TEAMS_SECRET = "sig=TEAMS-secret-signature"
TELEGRAM_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre", "tg-spoiler",
                 "span", "blockquote"}
_ENTITY = re.compile(r"&(?:lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);")


@dataclass
class Received:
    kind: str  # teams, slack, telegram
    name: str  # the webhook's name, or the Telegram chat id
    payload: dict[str, Any]
    size: int
    at: float  # time.monotonic() on arrival
    peer: tuple[str, int] | None = None


@dataclass
class ChatEndpoints:
    port: int = field(default_factory=free_port)
    received: list[Received] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # payloads the real service would refuse
    scripts: dict[str, deque[tuple[int, dict[str, str], str]]] = field(default_factory=lambda: defaultdict(deque))
    runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def teams_url(self, name: str = "noc") -> str:
        return f"{self.base_url}/teams/{name}?api-version=1&{TEAMS_SECRET}"

    def slack_url(self, name: str = "noc") -> str:
        return f"{self.base_url}/slack/{name}"

    def script(self, key: str, *answers: int | tuple[int, dict[str, str]] | tuple[int, dict[str, str], str]) -> None:
        """Answer the next requests to `key` ("teams/noc", "slack/noc", "telegram/<chat id>") with these
        statuses (and headers, body) before the usual success."""
        for a in answers:
            status, headers, body = (a, {}, "") if isinstance(a, int) else (a[0], a[1], a[2] if len(a) > 2 else "")
            self.scripts[key].append((status, headers, body or f"scripted {status}"))

    def of(self, kind: str, name: str | None = None) -> list[Received]:
        return [r for r in self.received if r.kind == kind and (name is None or r.name == name)]

    async def __aenter__(self) -> ChatEndpoints:
        app = web.Application(client_max_size=1024 * 1024)
        app.router.add_post("/teams/{name}", self._teams)
        app.router.add_post("/slack/{name}", self._slack)
        app.router.add_post("/bot{token}/sendMessage", self._telegram)
        self.runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    # -- common ------------------------------------------------------------------------------------

    async def _take(self, request: web.Request, kind: str,
                    name: str) -> tuple[dict[str, Any] | None, web.Response | None]:
        raw = await request.read()
        try:
            payload = json.loads(raw)
        except ValueError:
            self.problems.append(f"{kind}/{name}: not JSON")
            return None, web.Response(status=400, text="not JSON")
        if request.content_type != "application/json":
            self.problems.append(f"{kind}/{name}: Content-Type {request.content_type}")
        peer = request.transport.get_extra_info("peername") if request.transport else None
        self.received.append(Received(kind, name, payload, len(raw), time.monotonic(), peer))
        script = self.scripts.get(f"{kind}/{name}")
        if script:
            status, headers, body = script.popleft()
            if kind == "telegram":
                body = json.dumps({"ok": False, "error_code": status, "description": body})
            return payload, web.Response(status=status, headers=headers, text=body)
        return payload, None

    def _refuse(self, kind: str, name: str, problems: list[str]) -> web.Response | None:
        if not problems:
            return None
        self.problems += [f"{kind}/{name}: {p}" for p in problems]
        return web.Response(status=400, text="; ".join(problems))

    # -- Teams -------------------------------------------------------------------------------------

    async def _teams(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        payload, scripted = await self._take(request, "teams", name)
        if payload is None or scripted is not None:
            return scripted or web.Response(status=400)
        refused = self._refuse("teams", name, teams_problems(payload, self.received[-1].size))
        return refused or web.Response(status=202)

    # -- Slack -------------------------------------------------------------------------------------

    async def _slack(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        payload, scripted = await self._take(request, "slack", name)
        if payload is None or scripted is not None:
            return scripted or web.Response(status=400)
        refused = self._refuse("slack", name, slack_problems(payload))
        return refused or web.Response(text="ok")

    # -- Telegram ----------------------------------------------------------------------------------

    async def _telegram(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != TELEGRAM_TOKEN:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        raw = await request.read()
        try:
            chat = str(json.loads(raw).get("chat_id"))
        except (ValueError, AttributeError):
            chat = "?"
        payload, scripted = await self._take(request, "telegram", chat)
        if payload is None or scripted is not None:
            return scripted or web.Response(status=400)
        refused = telegram_problems(payload)
        if refused:
            self.problems += [f"telegram/{chat}: {p}" for p in refused]
            return web.json_response({"ok": False, "error_code": 400, "description": "Bad Request: " + refused[0]},
                                     status=400)
        n = len(self.of("telegram"))
        return web.json_response({"ok": True, "result": {"message_id": n, "chat": {"id": chat}, "text": "…"}})


def teams_problems(payload: dict[str, Any], size: int) -> list[str]:
    """What a Teams Workflows webhook and the Adaptive Card 1.4 schema would refuse."""
    problems = []
    if size >= 20_000:
        problems.append(f"body is {size} bytes (limit 20 KB)")
    if payload.get("type") != "message":
        problems.append("type must be 'message'")
    attachments = payload.get("attachments")
    if not isinstance(attachments, list) or len(attachments) != 1:
        return [*problems, "attachments must hold one card"]
    a = attachments[0]
    if a.get("contentType") != "application/vnd.microsoft.card.adaptive":
        problems.append(f"contentType {a.get('contentType')!r}")
    if "contentUrl" not in a or a["contentUrl"] is not None:
        problems.append("contentUrl must be null")
    card = a.get("content") or {}
    if card.get("type") != "AdaptiveCard" or card.get("version") != "1.4":
        problems.append(f"not an AdaptiveCard 1.4: {card.get('type')} {card.get('version')}")
    if not str(card.get("$schema", "")).startswith("http://adaptivecards.io/schemas/adaptive-card.json"):
        problems.append("$schema missing")
    for i, el in enumerate(card.get("body", [])):
        if el.get("type") == "TextBlock":
            if not isinstance(el.get("text"), str) or not el["text"]:
                problems.append(f"body[{i}]: TextBlock without text")
            if el.get("color") not in (None, "default", "dark", "light", "accent", "good", "warning", "attention"):
                problems.append(f"body[{i}]: colour {el.get('color')!r}")
        elif el.get("type") == "FactSet":
            facts = el.get("facts")
            if not facts or not all(isinstance(f.get("title"), str) and isinstance(f.get("value"), str)
                                    for f in facts):
                problems.append(f"body[{i}]: FactSet facts need a title and a value")
        else:
            problems.append(f"body[{i}]: unexpected element {el.get('type')!r}")
    for action in card.get("actions", []):
        if action.get("type") != "Action.OpenUrl" or not str(action.get("url", "")).startswith("http"):
            problems.append(f"action {action}")
    return problems


def slack_problems(payload: dict[str, Any]) -> list[str]:
    """Block Kit limits for an incoming webhook (or a plain Mattermost-style text)."""
    problems = []
    text = payload.get("text")
    if not isinstance(text, str) or not text.strip():
        problems.append("no text")
    elif len(text) > 40_000:
        problems.append(f"text is {len(text)} characters")
    blocks = payload.get("blocks")
    if blocks is None:
        return problems
    if not isinstance(blocks, list) or not 1 <= len(blocks) <= 50:
        return [*problems, f"{len(blocks) if isinstance(blocks, list) else blocks!r} blocks (1-50)"]
    total = 0
    for i, b in enumerate(blocks):
        kind = b.get("type")
        if kind == "header":
            t = b.get("text", {})
            if t.get("type") != "plain_text" or not 1 <= len(t.get("text", "")) <= 150:
                problems.append(f"blocks[{i}]: header must be plain_text of 1-150 characters")
        elif kind == "section":
            t = b.get("text", {})
            if t.get("type") not in ("mrkdwn", "plain_text") or not 1 <= len(t.get("text", "")) <= 3000:
                problems.append(f"blocks[{i}]: section text must be 1-3000 characters ({len(t.get('text', ''))})")
            total += len(t.get("text", ""))
        elif kind == "context":
            elements = b.get("elements", [])
            if not 1 <= len(elements) <= 10:
                problems.append(f"blocks[{i}]: context needs 1-10 elements")
        else:
            problems.append(f"blocks[{i}]: unexpected block {kind!r}")
    if total > 12_000:
        problems.append(f"sections carry {total} characters (msg_blocks_too_long)")
    return problems


class _TelegramHtml(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in TELEGRAM_TAGS:
            self.problems.append(f"unsupported tag <{tag}>")
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes nothing open")
        else:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text += data

    def handle_entityref(self, name: str) -> None:
        if name not in ("lt", "gt", "amp", "quot"):
            self.problems.append(f"unsupported entity &{name};")
        self.text += "x"

    def handle_charref(self, name: str) -> None:
        self.text += "x"


def telegram_problems(payload: dict[str, Any]) -> list[str]:
    """What sendMessage with parse_mode HTML would refuse: too long, unknown tags, unbalanced, bare & or <."""
    problems = []
    if payload.get("parse_mode") != "HTML":
        problems.append(f"parse_mode {payload.get('parse_mode')!r}")
    if payload.get("disable_web_page_preview") is not True:
        problems.append("web page preview not disabled")
    if payload.get("chat_id") in (None, ""):
        problems.append("no chat_id")
    text = payload.get("text")
    if not isinstance(text, str) or not text.strip():
        return [*problems, "message text is empty"]
    if len(text.encode("utf-16-le")) // 2 > 4096:
        problems.append(f"message is too long: {len(text)} characters")
    bare = _ENTITY.sub("", re.sub(r"<[^<>]*>", "", text))
    if "&" in bare or "<" in bare or ">" in bare:
        problems.append("can't parse entities: a bare & < or >")
    parser = _TelegramHtml()
    parser.feed(text)
    parser.close()
    problems += parser.problems
    if parser.stack:
        problems.append(f"unclosed tags {parser.stack}")
    return problems


# -- a ready incident and config for notification tests ------------------------------------------------

HOSTILE = "<script>alert(1)</script> & *bold* <@channel> <!channel> [click](http://evil.test) `x`"


def sample_inventory(chat: ChatEndpoints | None = None, extra_clients: int = 0) -> dict[str, Any]:
    """acme (s1 s2), globex (s2 s3 s4), initech (s4 s5); acme has a contact on every channel."""
    contacts: dict[str, Any] = {"email": ["noc@acme.test"]}
    if chat is not None:
        contacts.update(teams=chat.teams_url("acme"), slack=chat.slack_url("acme"), telegram="-100200")
    clients: dict[str, Any] = {
        "acme": {"servers": ["s1", "s2"], "services": ["shop"], "contacts": contacts},
        "globex": {"servers": ["s2", "s3", "s4"], "services": ["store"],
                   "contacts": {"email": ["ops@globex.test"]}},
        "initech": {"servers": ["s4", "s5"], "services": ["portal"], "contacts": {"email": ["it@initech.test"]}},
    }
    for i in range(extra_clients):
        clients[f"client-{i:03d}"] = {"servers": ["s5"], "services": ["portal"]}
    return {
        "services": {name: {"url": f"http://{{address}}/{name}"} for name in ("shop", "store", "portal")},
        "servers": {f"s{i}": {"address": f"10.0.0.{i}"} for i in range(1, 6)},
        "clients": clients,
    }


def sample_incident(extra_clients: int = 0, hostile: str = HOSTILE, state: str = "state-1",
                    language: str = "en") -> Any:
    """A critical incident: acme down (with changes and a hostile alert), globex degraded, initech ok,
    and `extra_clients` more down clients with long summaries; summaries in `language`."""
    from responder.model.alert import Alert, utcnow
    from responder.model.incident import Incident
    from responder.model.verdict import Check, ClientVerdict, ServiceVerdict
    from responder.wording import client_summary

    def svc(name: str, severity: str, checks: list[Check]) -> ServiceVerdict:
        return ServiceVerdict(service=name, severity=severity, servers_total=len(checks),  # type: ignore[arg-type]
                              servers_failing=sum(not c.ok for c in checks), checks=checks)

    now = utcnow()
    inc = Incident(id="20251118-091412-3fa2c1", opened_at=now, updated_at=now, status="assessed",
                   severity="critical", headline="acme down, globex degraded", last_state=state,
                   affected=["acme", "globex", "initech"])
    inc.add_alert(Alert(source="alertmanager", key="k1", identity="i1", host="s1:9100", server="s1",
                        status="firing", name="InstanceDown", summary=hostile))
    inc.add_alert(Alert(source="alertmanager", key="k3", identity="i3", host="s3", server="s3",
                        status="firing", name="InstanceDown", summary="s3 down"))
    inc.clients = [
        ClientVerdict(client="acme", severity="critical", summary="",
                      changes=["ok → critical", f"shop on s1 now failing: {hostile}"],
                      services=[svc("shop", "critical", [
                          Check(server="s1", url="http://10.0.0.1/shop", ok=False, status=503, error="HTTP 503"),
                          Check(server="s2", url="http://10.0.0.2/shop", ok=False, error="connection refused")])]),
        ClientVerdict(client="globex", severity="degraded", summary="",
                      changes=["ok → degraded"],
                      services=[svc("store", "degraded", [
                          Check(server="s3", url="http://10.0.0.3/store", ok=False, error="no answer within 1s"),
                          Check(server="s2", url="http://10.0.0.2/store", ok=True, status=200, latency_ms=4),
                          Check(server="s4", url="http://10.0.0.4/store", ok=True, status=200, latency_ms=5)])]),
        ClientVerdict(client="initech", severity="ok", summary="",
                      services=[svc("portal", "ok", [
                          Check(server="s4", url="http://10.0.0.4/portal", ok=True, status=200, latency_ms=3),
                          Check(server="s5", url="http://10.0.0.5/portal", ok=True, status=200, latency_ms=3)])]),
    ]
    for c in inc.clients:
        c.summary = client_summary(c.services, 10, language)
    for i in range(extra_clients):
        name = f"client-{i:03d}"
        inc.clients.append(ClientVerdict(
            client=name, severity="critical", summary="portal down on its only server " + "x" * 60,
            changes=[f"portal on s5 now failing for {name}"],
            services=[svc("portal", "critical", [
                Check(server="s5", url="http://10.0.0.5/portal", ok=False, status=500, error="HTTP 500")])]))
        inc.affected.append(name)
    return inc


def sample_config(endpoints: ChatEndpoints, inventory: dict[str, Any] | None = None, **settings: Any) -> Any:
    """A Config sending every severity to every channel, the chat ones at `endpoints`."""
    from pathlib import Path

    from responder.config import from_data

    chat = settings.get("chat") or {
        "teams": {"url": endpoints.teams_url()}, "slack": {"url": endpoints.slack_url()},
        "telegram": {"token": TELEGRAM_TOKEN, "chat_id": "-100100", "api_url": endpoints.base_url}}
    # every configured channel (a route to a channel with no config is an error)
    mail = ["email"] if "email" in settings else []
    everything = [*mail, *(c for c in ("teams", "slack", "telegram") if c in chat)]
    data: dict[str, Any] = {
        "inventory": inventory if inventory is not None else sample_inventory(endpoints),
        "public_url": "https://responder.example.test", "chat": chat,
        "routes": {"critical": everything, "degraded": everything, "ok": mail},
        "auth": {"secret": "test-link-secret-of-chat-tests"},  # no link-secret file written under ./var
    }
    data.update(settings)
    return from_data(data, base=Path("."))
