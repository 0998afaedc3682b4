"""Sentences about verdicts in the report's language (en, ru): service and client summaries, what
changed, the incident's headline.

One table, so the verdict JSON, the pages, the terminal and every message state a verdict alike, in
`report.language`.
"""

from __future__ import annotations

from collections.abc import Sequence

from responder.model.incident import Incident
from responder.model.verdict import ClientVerdict, ServiceVerdict

PHRASES: dict[str, dict[str, str]] = {
    "en": {
        # a service, a client
        "svc_down_only": "{service} down on its only server",
        "svc_down_both": "{service} down on both servers",
        "svc_down_all": "{service} down on all {total} servers",
        "svc_failing": "{service} failing on {where}{failing} of {servers}",
        "svc_under": ", under the {threshold}% threshold",
        "svc_slow": "{service} slow on {where}{slow} of {servers}",
        "svc_ok": "{service} ok",
        "all_pass": "{services} pass on {every}",
        "one_passes": "{service} passes on {every}",
        "nothing_to_check": "no services to check",
        "not_checked": "{n} not checked",
        "below_min": "{service}: {passing} of {servers} pass, needs {min}",
        "of_failing": "{failing} of {total} failing",
        "every_1": "its only server", "every_2": "both servers", "every_n": "all {n} servers",
        "services_2": "both services", "services_n": "all {n} services",
        # what changed, the headline
        "step": "{a} → {b}", "at": "{service} on {server}", "failing": "{at} now failing: {error}",
        "recovered": "{at} recovered", "slower": "{at} slower: {a} → {b} ms", "faster": "{at} faster: {a} → {b} ms",
        "gone": "{at} no longer checked", "more": "{shown} and {n} more",
        "recovered_all": "recovered: every check passes", "still": "alerts resolved, but {what} still failing",
        "still_slow": "alerts resolved, but checks are still slow",
        "resolved_all_pass": "alerts resolved: every check passes",
        "common": "{server} fails for {clients}", "alerting": "{servers} alerting",
        "no_client_hurt": "no client is hurt", "pending": "waiting for the first assessment",
        "critical": "critical", "degraded": "degraded", "ok": "ok",
        # the messages' words (mail, chat)
        "servers_alerting": "servers alerting", "server_alerting": "server alerting",
        "servers_alerting_few": "servers alerting", "incident": "Incident", "client": "Client",
        "severity": "Severity", "summary": "Summary", "service": "Service", "server": "Server", "status": "Status",
        "latency": "Latency", "error": "Error", "alerts": "Alerts", "unmapped": "Hosts not in the inventory",
        "logs": "Log lines", "changes": "What changed", "open": "Open the incident",
        "checks_attached": "Every check is in the attached CSV.", "quiet": "Notifications held back",
        "no_clients": "No client is affected.", "truncated": "alerts were left out by the sender",
        "clients": "Clients", "services": "Services", "maintenance": "Maintenance", "slow": "slow",
        "more_clients": "more clients", "more_changes": "more changes", "more_alerts": "more alerts",
        "more_services": "more services", "more_lines": "more lines in the incident", "firing": "firing",
        "resolved": "resolved", "in_maintenance": "In maintenance (not reported)",
        "news": "Since the last message", "why_first": "first verdict", "why_changed": "what changed",
        "why_resolved_failing": "alerts resolved, but still failing",
        "why_maintenance_started": "maintenance started", "why_maintenance_ended": "maintenance ended",
        "why_reminder": "reminder: still failing", "why_recovered": "recovered", "why_by_hand": "checked by hand",
        "word_open": "OPEN", "word_recovered": "recovered", "word_more": "more", "word_failing": "failing",
    },
    "ru": {
        "svc_down_only": "{service} недоступен на единственном сервере",
        "svc_down_both": "{service} недоступен на обоих серверах",
        "svc_down_all": "{service} недоступен на всех {total} серверах",
        "svc_failing": "{service}: сбой на {where}{failing} из {total}",
        "svc_under": ", ниже порога {threshold}%",
        "svc_slow": "{service}: медленные ответы на {where}{slow} из {total}",
        "svc_ok": "{service} в норме",
        "all_pass": "{services} работают {every}",
        "one_passes": "{service} работает {every}",
        "nothing_to_check": "нет сервисов для проверки",
        "not_checked": "не проверено: {n}",
        "below_min": "{service}: работают {passing} из {total}, нужно {min}",
        "of_failing": "сбой: {failing} из {total}",
        "every_1": "на единственном сервере", "every_2": "на обоих серверах", "every_n": "на всех {n} серверах",
        "services_2": "оба сервиса", "services_n": "все {n}",
        "step": "{a} → {b}", "at": "{service} на {server}", "failing": "{at}: сбой: {error}",
        "recovered": "{at}: восстановлен", "slower": "{at}: медленнее: {a} → {b} мс",
        "faster": "{at}: быстрее: {a} → {b} мс", "gone": "{at}: больше не проверяется",
        "more": "{shown} и ещё {n}", "recovered_all": "восстановлено: все проверки проходят",
        "still": "алерты сняты, но сбой продолжается: {what}",
        "still_slow": "алерты сняты, но проверки всё ещё медленные",
        "resolved_all_pass": "алерты сняты: все проверки проходят",
        "common": "{server}: сбой у {clients}", "alerting": "алерты: {servers}",
        "no_client_hurt": "клиенты не затронуты", "pending": "ждёт первой проверки",
        "critical": "критично", "degraded": "деградация", "ok": "норма",
        # the messages' words (mail, chat)
        "servers_alerting": "серверов с алертами", "server_alerting": "сервер с алертом",
        "servers_alerting_few": "сервера с алертами", "incident": "Инцидент", "client": "Клиент",
        "severity": "Критичность", "summary": "Итог", "service": "Сервис", "server": "Сервер", "status": "Статус",
        "latency": "Задержка", "error": "Ошибка", "alerts": "Алерты", "unmapped": "Хосты вне инвентаря",
        "logs": "Строки логов", "changes": "Что изменилось", "open": "Открыть инцидент",
        "checks_attached": "Все проверки во вложенном CSV.", "quiet": "Уведомления приостановлены",
        "no_clients": "Клиенты не затронуты.", "truncated": "алертов отправитель не передал", "clients": "Клиенты",
        "services": "Сервисы", "maintenance": "Плановые работы", "slow": "медленно",
        "more_clients": "клиентов ещё", "more_changes": "изменений ещё", "more_alerts": "алертов ещё",
        "more_services": "сервисов ещё", "more_lines": "строк ещё — в инциденте", "firing": "активен",
        "resolved": "снят", "in_maintenance": "На плановых работах (без подробностей)",
        "news": "С прошлого сообщения", "why_first": "первая оценка", "why_changed": "есть изменения",
        "why_resolved_failing": "алерты сняты, но сбой продолжается",
        "why_maintenance_started": "начались плановые работы",
        "why_maintenance_ended": "плановые работы закончились", "why_reminder": "напоминание: сбой продолжается",
        "why_recovered": "восстановлено", "why_by_hand": "проверка вручную", "word_open": "ОТКРЫТ",
        "word_recovered": "восстановлено", "word_more": "ещё", "word_failing": "сбой",
    },
}

# Nouns after a number: English has two forms, Russian three (1 сервер, 2 сервера, 5 серверов).
NOUNS: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {"server": ("server", "servers"), "service": ("service", "services"), "client": ("client", "clients"),
           "alert": ("alert", "alerts")},
    "ru": {"server": ("сервер", "сервера", "серверов"), "service": ("сервис", "сервиса", "сервисов"),
           "client": ("клиент", "клиента", "клиентов"), "alert": ("алерт", "алерта", "алертов")},
}
NAMED = 3  # name the failing servers when there are at most this many


def phrases(language: str) -> dict[str, str]:
    return PHRASES.get(language, PHRASES["en"])


def plural(n: int, forms: Sequence[str], language: str = "en") -> str:
    """The form of a noun for `n`: (one, many) in English, (one, few, many) in Russian."""
    if language == "ru" and len(forms) == 3:
        if n % 10 == 1 and n % 100 != 11:
            return forms[0]
        return forms[1] if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14 else forms[2]
    return forms[0] if n == 1 else forms[-1]


def count(n: int, noun: str, language: str = "en") -> str:
    """`1 server`, `3 servers`, `2 сервера`, `5 серверов`."""
    nouns = NOUNS.get(language, NOUNS["en"])
    return f"{n} {plural(n, nouns[noun], language)}"


def every_server(n: int, language: str = "en") -> str:
    """`its only server`, `both servers`, `all 3 servers`."""
    ph = phrases(language)
    return ph["every_1"] if n == 1 else ph["every_2"] if n == 2 else ph["every_n"].format(n=n)


def of_failing(failing: int, total: int, language: str = "en") -> str:
    """`0 of 3 failing`: never a bare `0/3`, which reads as none passing."""
    return phrases(language)["of_failing"].format(failing=failing, total=total)


def severity_word(severity: str | None, language: str = "en") -> str:
    """The one word for a severity in the report's language (pages, terminal and messages alike)."""
    return phrases(language).get(severity or "", phrases(language)["pending"])


def describe_service(v: ServiceVerdict, threshold: float, language: str = "en") -> str:
    """One phrase about one service, e.g. `shop down on both servers` or
    `reports failing on web-03, 1 of 3 servers; 2 not checked`."""
    ph = phrases(language)
    text = _describe(v, threshold, ph, language)
    if v.not_checked:
        text += "; " + ph["not_checked"].format(
            n=len(v.not_checked) if language == "en" else count(len(v.not_checked), "server", language))
    return text


def _where(servers: Sequence[str]) -> str:
    return ", ".join(servers) + ", " if 0 < len(servers) <= NAMED else ""


def _describe(v: ServiceVerdict, threshold: float, ph: dict[str, str], language: str) -> str:
    servers = count(v.servers_total, "server", language)
    if v.min_healthy > 1 and v.servers_passing < v.min_healthy:
        return ph["below_min"].format(service=v.service, passing=v.servers_passing, total=v.servers_total,
                                      servers=servers, min=v.min_healthy)
    failing = sorted({c.server for c in v.checks if not c.ok})
    if v.severity == "critical" and not v.not_checked and v.servers_failing == v.servers_total:
        key = "svc_down_only" if v.servers_total == 1 else "svc_down_both" if v.servers_total == 2 else "svc_down_all"
        return ph[key].format(service=v.service, total=v.servers_total)
    if v.servers_failing:
        text = ph["svc_failing"].format(service=v.service, where=_where(failing), failing=v.servers_failing,
                                        total=v.servers_total, servers=servers)
        if v.severity == "ok":
            text += ph["svc_under"].format(threshold=f"{threshold:g}")
        return text
    if v.servers_slow:
        slow = sorted({c.server for c in v.checks if c.ok and c.slow})
        return ph["svc_slow"].format(service=v.service, where=_where(slow), slow=v.servers_slow,
                                     total=v.servers_total, servers=servers)
    return ph["svc_ok"].format(service=v.service)


def client_summary(services: Sequence[ServiceVerdict], threshold: float, language: str = "en") -> str:
    """The line a person reads first about a client: its failing or slow services, worst first (the
    order given), or that everything passes."""
    ph = phrases(language)
    noteworthy = [describe_service(s, threshold, language) for s in services
                  if s.servers_failing or s.servers_slow or s.not_checked]
    if noteworthy:
        return "; ".join(noteworthy)
    if not services:
        return ph["nothing_to_check"]
    every = every_server(max(s.servers_total for s in services), language)
    if len(services) > 1:
        n = len(services)
        return ph["all_pass"].format(services=ph["services_2"] if n == 2 else ph["services_n"].format(n=n),
                                     every=every)
    return ph["one_passes"].format(service=services[0].service, every=every)


def common_factor(clients: Sequence[ClientVerdict]) -> tuple[str, int] | None:
    """The server that fails for the most clients, when it fails for at least two: the likely cause."""
    tally: dict[str, int] = {}
    for c in clients:
        for server in {k.server for s in c.services for k in s.checks if not k.ok}:
            tally[server] = tally.get(server, 0) + 1
    if not tally:
        return None
    server, n = max(sorted(tally.items()), key=lambda kv: kv[1])
    return (server, n) if n >= 2 else None


def incident_headline(incident: Incident, language: str = "en") -> str:
    """The incident in one line: the clients hurt (worst first), the common factor, the servers alerting.

    The lifecycle's own headline (recovered, or what still fails once the alerts resolved) wins."""
    ph = phrases(language)
    if incident.headline:
        return incident.headline
    if incident.severity is None:
        return ph["pending"]
    hurt = [c for c in incident.clients if c.severity != "ok"]
    if hurt:
        shown = ", ".join(f"{c.client} {severity_word(c.severity, language)}" for c in hurt[:3])
        parts = [ph["more"].format(shown=shown, n=len(hurt) - 3) if len(hurt) > 3 else shown]
    else:
        parts = [ph["no_client_hurt"]]
    common = common_factor(incident.clients)
    if common:
        parts.append(ph["common"].format(server=common[0], clients=count(common[1], "client", language)))
    alerting = incident.alerting_servers
    if alerting:
        names = ", ".join(alerting) if len(alerting) <= NAMED else count(len(alerting), "server", language)
        parts.append(ph["alerting"].format(servers=names))
    return " · ".join(parts)
