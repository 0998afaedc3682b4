"""Turning an incident into words: subject, plain text, HTML (Jinja2, autoescaped) and a CSV of checks.

Users may override any template by putting a file of the same name in `report.templates`.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

import jinja2

from responder.config import Config
from responder.incident import Incident
from responder.verdict import ClientVerdict

SEVERITY_WORD = {
    "en": {"critical": "down", "degraded": "degraded", "ok": "ok"},
    "ru": {"critical": "недоступен", "degraded": "деградация", "ok": "в норме"},
}
COLOURS = {"critical": "#b3261e", "degraded": "#b26a00", "ok": "#1e7b34"}
PHRASES: dict[str, dict[str, str]] = {
    "en": {
        "servers_alerting": "servers alerting", "server_alerting": "server alerting",
        "recovered": "recovered", "more": "more", "incident": "Incident", "client": "Client",
        "severity": "Severity", "summary": "Summary", "service": "Service", "server": "Server",
        "status": "Status", "latency": "Latency", "error": "Error", "alerts": "Alerts",
        "unmapped": "Hosts not in the inventory", "logs": "Log lines", "changes": "What changed",
        "open": "Open the incident", "checks_attached": "Every check is in the attached CSV.",
        "quiet": "Notifications held back", "no_clients": "No client is affected.",
        "truncated": "alerts were left out by the sender",
    },
    "ru": {
        "servers_alerting": "серверов с алертами", "server_alerting": "сервер с алертом",
        "recovered": "восстановлено", "more": "ещё", "incident": "Инцидент", "client": "Клиент",
        "severity": "Критичность", "summary": "Итог", "service": "Сервис", "server": "Сервер",
        "status": "Статус", "latency": "Задержка", "error": "Ошибка", "alerts": "Алерты",
        "unmapped": "Хосты вне инвентаря", "logs": "Строки логов", "changes": "Что изменилось",
        "open": "Открыть инцидент", "checks_attached": "Все проверки во вложенном CSV.",
        "quiet": "Уведомления приостановлены", "no_clients": "Клиенты не затронуты.",
        "truncated": "алертов отправитель не передал",
    },
}


@dataclass
class Message:
    """One rendered message: what every channel draws from."""

    incident: Incident
    clients: list[ClientVerdict]
    severity: str
    subject: str
    text: str
    html: str
    url: str
    attachments: list[tuple[str, str, bytes]] = field(default_factory=list)
    scope: str | None = None  # the client this message is limited to, if any


def environment(config: Config) -> jinja2.Environment:
    loaders: list[jinja2.BaseLoader] = []
    if config.report.templates:
        loaders.append(jinja2.FileSystemLoader(config.report.templates))
    loaders.append(jinja2.PackageLoader("workers.notify", "templates"))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=jinja2.select_autoescape(["html", "htm", "xml", "html.j2"], default_for_string=True),
        trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined,
    )
    return env


def subject(incident: Incident, clients: list[ClientVerdict], language: str = "en") -> str:
    """`[CRITICAL] acme down · globex degraded · 3 servers alerting`: severity first, worst clients first."""
    words = SEVERITY_WORD[language]
    ph = PHRASES[language]
    severity = (incident.severity or "ok").upper()
    parts: list[str] = []
    resolved = incident.status == "resolved"
    for c in clients[:3]:
        parts.append(f"{c.client} {ph['recovered'] if resolved else words[c.severity]}")
    if len(clients) > 3:
        parts.append(f"+{len(clients) - 3} {ph['more']}")
    n = len(incident.alerting_servers)
    if n:
        parts.append(f"{n} {ph['server_alerting'] if n == 1 else ph['servers_alerting']}")
    elif incident.unmapped_hosts:
        parts.append(f"{len(incident.unmapped_hosts)} {ph['unmapped'].lower()}")
    return f"[{severity}] " + " · ".join(parts or [incident.id])


def checks_csv(clients: list[ClientVerdict]) -> bytes:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["client", "service", "server", "url", "ok", "status", "error", "latency_ms", "slow", "attempts"])
    for c in clients:
        for s in c.services:
            for k in s.checks:
                w.writerow([c.client, s.service, k.server, k.url, "yes" if k.ok else "no",
                            k.status if k.status is not None else "", k.error or "",
                            k.latency_ms if k.latency_ms is not None else "", "yes" if k.slow else "no",
                            k.attempts])
    return out.getvalue().encode("utf-8")


def logs_text(clients: list[ClientVerdict]) -> bytes:
    out = []
    for c in clients:
        for log in c.logs:
            out.append(f"### {c.client} · {log.server} · {log.path or ''}")
            if log.error:
                out.append(f"(error: {log.error})")
            out.extend(log.lines)
            out.append("")
    return "\n".join(out).encode("utf-8")


def render(config: Config, incident: Incident, scope: str | None = None) -> Message:
    """Render the incident, or only one client's part of it when `scope` names that client."""
    clients = [c for c in incident.clients if scope is None or c.client == scope]
    language = config.report.language
    env = environment(config)
    url = config.incident_url(incident.id)
    ctx: dict[str, Any] = {
        "incident": incident, "clients": clients, "url": url, "colours": COLOURS,
        "words": SEVERITY_WORD[language], "t": PHRASES[language], "scope": scope,
        "severity": incident.severity or "ok",
        "alerts": [a for a in incident.alerts if scope is None or a.server is None
                   or scope in config.inventory.affected_by(a.server)],
    }
    if scope is not None:
        ctx["alerts"] = [a for a in ctx["alerts"] if a.server is not None]
    text = env.get_template("email.txt.j2").render(**ctx)
    html = env.get_template("email.html.j2").render(**ctx)
    attachments = [(f"checks-{incident.id}.csv", "text/csv", checks_csv(clients))]
    logs = logs_text(clients)
    if logs.strip():
        attachments.append((f"logs-{incident.id}.txt", "text/plain", logs))
    return Message(incident=incident, clients=clients, severity=incident.severity or "ok",
                   subject=subject(incident, clients, language), text=text, html=html, url=url,
                   attachments=attachments, scope=scope)
