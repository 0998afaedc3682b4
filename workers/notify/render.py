"""Turning an incident into words: subject, plain text, HTML (Jinja2, autoescaped), a CSV of checks, and
the `Digest` every chat channel draws from.

Users may override any template (email.txt.j2, email.html.j2, chat.txt.j2) by putting a file of the
same name in `report.templates`. Words come from responder.wording in the configured language; the headline and
the per-client changes come first in every message.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import jinja2

from responder import links
from responder.config import Config
from responder.model.incident import Incident
from responder.model.scope import scope as scope_of
from responder.model.verdict import ClientVerdict
from responder.text import strip_controls
from responder.wording import phrases
from workers.notify.markup import Flavour, Safe

# one word per severity, the same as on the pages and in the terminal (responder/wording.py)
SEVERITY_WORD = {lang: {s: phrases(lang)[s] for s in ("critical", "degraded", "ok")} for lang in ("en", "ru")}
COLOURS = {"critical": "#b3261e", "degraded": "#b26a00", "ok": "#1e7b34"}


LISTED = 50  # alerts and unmapped hosts a mail lists; the rest are counted, linked and attached
# clients (worst first) and changes a mail describes; the rest are counted and linked, and every check is
# in the attached CSV: at 2,864 clients the whole picture made a 10 MB mail, past Postfix's default
# message_size_limit (10,240,000 bytes), and nobody reads that far in a mail
LISTED_CLIENTS = 200


@dataclass(frozen=True)
class ServiceLine:
    service: str
    severity: str
    word: str
    failing: int
    total: int
    problems: list[str]  # "s1: HTTP 503", "s3: slow, 2400 ms"


@dataclass(frozen=True)
class ClientLine:
    client: str
    severity: str
    word: str
    summary: str
    maintenance: str | None
    services: list[ServiceLine]


@dataclass(frozen=True)
class Digest:
    """The incident (or one client's part of it) as plain strings in the report's language.

    Nothing here is escaped: each channel escapes for its own markup."""

    incident_id: str
    severity: str
    title: str  # the subject line
    reason: str | None  # why this message was sent, in words: its first line
    headline: str | None
    quiet: str | None
    url: str
    changes: list[tuple[str, str]]  # (client, what changed), shown first
    clients: list[ClientLine]
    alerts: list[str]
    unmapped: list[str]
    truncated: int
    t: dict[str, str]
    in_maintenance: list[str] = field(default_factory=list)  # clients inside a window: named, never described
    news: list[str] = field(default_factory=list)  # the incident's notes since the last message (acknowledgements)


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
    digest: Digest | None = None


def _loaders(config: Config) -> list[jinja2.BaseLoader]:
    loaders: list[jinja2.BaseLoader] = []
    if config.report.templates:
        loaders.append(jinja2.FileSystemLoader(config.report.templates))
    loaders.append(jinja2.PackageLoader("workers.notify", "templates"))
    return loaders


def environment(config: Config) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.ChoiceLoader(_loaders(config)),
        autoescape=jinja2.select_autoescape(["html", "htm", "xml", "html.j2"], default_for_string=True),
        trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined,
    )


def chat_environment(config: Config, flavour: Flavour) -> jinja2.Environment:
    """Like `environment`, but every `{{ value }}` is escaped for the chat flavour's markup (the
    template's own text is markup and is left alone); `bold()` and `link()` write markup."""
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(_loaders(config)), autoescape=False, finalize=flavour.text,
        trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=False,
    )
    env.globals.update(bold=flavour.bold, link=flavour.link)
    return env


def chat_text(config: Config, digest: Digest, flavour: Flavour, *, title: bool = True, link: bool = True,
              limit: int = 40) -> str:
    """The chat message in one flavour: paragraphs separated by a blank line, at most `limit` clients
    (and changes). Channels that place the title or the link themselves leave them out here."""
    env = chat_environment(config, flavour)
    text = env.get_template("chat.txt.j2").render(d=digest, t=digest.t, with_title=title, with_link=link,
                                                  limit=limit)
    paragraphs = [p.strip("\n") for p in text.split("\n\n")]
    return "\n\n".join(p for p in paragraphs if p.strip())


def subject(incident: Incident, clients: list[ClientVerdict], language: str = "en",
            reasons: Sequence[str] = ()) -> str:
    """`[CRITICAL] acme critical · globex degraded · 3 servers alerting · what changed`: severity first, worst
    clients first, why last.

    The bracketed severity stays English in every language: mail filters match on it, as on the verdict
    JSON. A message limited to one client is given that client's scoped incident (responder.model.scope),
    so it carries that client's severity and alerting servers, not the incident's. Only a client that
    was failing is said to have recovered; every alerting host counts, in the inventory or not."""
    words = SEVERITY_WORD[language]
    ph = phrases(language)
    severity = incident.severity or "ok"
    parts: list[str] = []
    for c in clients[:3]:
        back = c.severity == "ok" and c.client in incident.failed
        parts.append(f"{c.client} {ph['word_recovered'] if back else words[c.severity]}")
    if len(clients) > 3:
        parts.append(f"+{len(clients) - 3} {ph['word_more']}")
    n = len(incident.alerting_hosts)
    if n:
        parts.append(f"{n} {ph[_plural(n, language, 'server_alerting', 'servers_alerting_few', 'servers_alerting')]}")
    elif incident.unmapped_hosts:
        parts.append(f"{len(incident.unmapped_hosts)} {ph['unmapped'].lower()}")
    why = reason_text(reasons, language)
    return f"[{severity.upper()}] " + " · ".join((parts or [incident.id]) + ([why] if why else []))


def reason_text(reasons: Sequence[str], language: str = "en") -> str | None:
    """Why a message was sent, in words ("alerts resolved, but still failing; what changed")."""
    ph = phrases(language)
    said = [ph.get(f"why_{r}", r) for r in reasons]
    return "; ".join(said) if said else None


def _plural(n: int, language: str, one: str, few: str, many: str) -> str:
    """The phrase key for `n` things: Russian has three forms (1 сервер, 2 сервера, 5 серверов)."""
    if language == "ru":
        if n % 10 == 1 and n % 100 != 11:
            return one
        return few if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14 else many
    return one if n == 1 else many


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


def alerts_csv(alerts: list[Any]) -> bytes:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["status", "source", "host", "server", "name", "summary"])
    for a in alerts:
        w.writerow([a.status, a.source, a.host or "", a.server or "", a.name, plain(a.summary or "")])
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


def plain(text: str) -> str:
    """The text without control characters (the plain-text part, and the HTML part's source)."""
    return strip_controls(text)


def _alert_line(a: Any, ph: dict[str, str]) -> str:
    text = f"{ph.get(a.status, a.status)} · {a.host or '-'} · {a.name}"
    return f"{text}: {a.summary}" if a.summary else text


def digest(config: Config, incident: Incident, clients: list[ClientVerdict], alerts: list[Any], title: str,
           url: str, reasons: Sequence[str] = (), news: Sequence[str] = ()) -> Digest:
    language = config.report.language
    ph = phrases(language)
    words = SEVERITY_WORD[language]
    lines = []
    for c in clients:
        services = []
        for s in c.services:
            problems = []
            for k in s.checks:
                if not k.ok:
                    why = k.error or (f"HTTP {k.status}" if k.status else ph["word_failing"])
                    problems.append(f"{k.server}: {why}")
                elif k.slow:
                    latency = f", {k.latency_ms:.0f} ms" if k.latency_ms is not None else ""
                    problems.append(f"{k.server}: {ph['slow']}{latency}")
            services.append(ServiceLine(s.service, s.severity, words[s.severity], s.servers_failing,
                                        s.servers_total, problems))
        lines.append(ClientLine(c.client, c.severity, words[c.severity], c.summary,
                                c.maintenance, services))
    return Digest(
        incident_id=incident.id, severity=incident.severity or "ok", title=title,
        reason=reason_text(reasons, language), headline=incident.headline, quiet=incident.quiet, url=url,
        changes=[(c.client, ch) for c in clients for ch in c.changes],
        clients=lines, alerts=[_alert_line(a, ph) for a in alerts],
        unmapped=list(incident.unmapped_hosts),
        truncated=incident.truncated, t=ph,
        in_maintenance=[c.client for c in incident.clients if c.maintenance and c not in clients],
        news=list(news)[-10:],
    )


def render(config: Config, incident: Incident, scope: str | None = None, reasons: Sequence[str] = (),
           news: Sequence[str] = ()) -> Message:
    """Render the incident for the config's own recipients (linking to the full page, behind the
    login), or, when `scope` names a client, that client's part only (responder.model.scope: chosen
    from the data before a word is written), linking to the signed page its contacts open. `reasons`
    say why it is sent, `news` are the notes since the last message. Of a client inside a maintenance
    window, the config's recipients are shown its name only."""
    if scope is not None:
        incident = scope_of(incident, scope, config.inventory)
        url = links.client_url(config, incident.id, scope)
    else:
        url = config.incident_url(incident.id)
    quiet = {c.client for c in incident.clients if c.maintenance and c.client != scope}
    clients = [c for c in incident.clients if c.client not in quiet]
    language = config.report.language
    env = environment(config)
    inv = config.inventory
    # an alert about clients in a window only is theirs
    alerts = [a for a in incident.alerts if a.server is None or not inv.affected_by(a.server)
              or not set(inv.affected_by(a.server)) <= quiet]
    title = subject(incident, clients, language, reasons)
    d = digest(config, incident, clients, alerts, title, url, reasons, news)
    ctx: dict[str, Any] = {
        "incident": incident, "clients": clients, "url": url, "colours": COLOURS,
        "words": SEVERITY_WORD[language], "t": phrases(language), "scope": scope,
        "severity": d.severity, "alerts": alerts[:LISTED], "alerts_more": max(0, len(alerts) - LISTED),
        "unmapped": d.unmapped[:LISTED], "unmapped_more": max(0, len(d.unmapped) - LISTED), "d": d,
        "summaries": {line.client: line.summary for line in d.clients[:LISTED_CLIENTS]},
        "listed": clients[:LISTED_CLIENTS], "clients_more": max(0, len(clients) - LISTED_CLIENTS),
        "changes": d.changes[:LISTED_CLIENTS], "changes_more": max(0, len(d.changes) - LISTED_CLIENTS),
    }
    text = plain(env.get_template("email.txt.j2").render(**ctx))
    html = plain(env.get_template("email.html.j2").render(**ctx))
    attachments = [(f"checks-{incident.id}.csv", "text/csv", checks_csv(clients))]
    logs = logs_text(clients)
    if logs.strip():
        attachments.append((f"logs-{incident.id}.txt", "text/plain", logs))
    if ctx["alerts_more"]:  # the mail lists the first LISTED; the attachment has every one
        attachments.append((f"alerts-{incident.id}.csv", "text/csv", alerts_csv(alerts)))
    if ctx["unmapped_more"]:
        attachments.append((f"unmapped-{incident.id}.txt", "text/plain", "\n".join(d.unmapped).encode("utf-8")))
    return Message(incident=incident, clients=clients, severity=d.severity, subject=title, text=text, html=html,
                   url=url, attachments=attachments, scope=scope, digest=d)


__all__ = ["Digest", "Message", "Safe", "chat_text", "render", "subject"]
