"""Sentences about verdicts in the report's language (en, ru): service and client summaries, what
changed, the incident's headline.

One table, so the verdict JSON, the pages, the terminal and every message state a verdict alike, in
`report.language`.
"""

from __future__ import annotations

from collections.abc import Sequence

from responder.model.verdict import ServiceVerdict

PHRASES: dict[str, dict[str, str]] = {
    "en": {
        # a service, a client
        "svc_down_all": "{service} down on all {total} servers",
        "svc_down_only": "{service} down on its only server",
        "svc_failing": "{service} failing on {failing} of {total} servers ({pct})",
        "svc_under": ", under the {threshold}% threshold",
        "svc_slow": "{service} slow on {slow} of {total} servers",
        "svc_ok": "{service} ok",
        "all_pass": "all {count} services pass on {servers} servers",
        "one_passes": "{service} passes on {servers} servers",
        "nothing_to_check": "no services to check",
        "not_checked": "{n} not checked",
        "below_min": "{service}: {passing} of {total} servers pass, needs {min}",
        # what changed, the headline
        "step": "{a} → {b}", "at": "{service} on {server}", "failing": "{at} now failing: {error}",
        "recovered": "{at} recovered", "slower": "{at} slower: {a} → {b} ms", "faster": "{at} faster: {a} → {b} ms",
        "gone": "{at} no longer checked", "more": "{shown} and {n} more",
        "recovered_all": "recovered: every check passes", "still": "alerts resolved, but {what} still failing",
        "still_slow": "alerts resolved, but checks are still slow",
        "resolved_all_pass": "alerts resolved: every check passes",
        "critical": "critical", "degraded": "degraded", "ok": "ok",
    },
    "ru": {
        "svc_down_all": "{service} недоступен на всех серверах ({total})",
        "svc_down_only": "{service} недоступен на единственном сервере",
        "svc_failing": "{service}: сбой на {failing} из {total} ({pct})",
        "svc_under": ", ниже порога {threshold}%",
        "svc_slow": "{service}: медленные ответы на {slow} из {total}",
        "svc_ok": "{service} в норме",
        "all_pass": "все сервисы ({count}) работают на серверах ({servers})",
        "one_passes": "{service} работает на серверах ({servers})",
        "nothing_to_check": "нет сервисов для проверки",
        "not_checked": "не проверено: {n}",
        "below_min": "{service}: работают {passing} из {total}, нужно {min}",
        "step": "{a} → {b}", "at": "{service} на {server}", "failing": "{at}: сбой: {error}",
        "recovered": "{at}: восстановлен", "slower": "{at}: медленнее: {a} → {b} мс",
        "faster": "{at}: быстрее: {a} → {b} мс", "gone": "{at}: больше не проверяется",
        "more": "{shown} и ещё {n}", "recovered_all": "восстановлено: все проверки проходят",
        "still": "алерты сняты, но сбой продолжается: {what}",
        "still_slow": "алерты сняты, но проверки всё ещё медленные",
        "resolved_all_pass": "алерты сняты: все проверки проходят",
        "critical": "критично", "degraded": "деградация", "ok": "норма",
    },
}


def phrases(language: str) -> dict[str, str]:
    return PHRASES.get(language, PHRASES["en"])


def _pct(part: int, whole: int) -> str:
    return f"{round(100.0 * part / whole)}%" if whole else "0%"


def describe_service(v: ServiceVerdict, threshold: float, language: str = "en") -> str:
    """One phrase about one service, e.g. `shop down on all 2 servers`."""
    ph = phrases(language)
    text = _describe(v, threshold, ph)
    if v.not_checked:
        text += "; " + ph["not_checked"].format(n=len(v.not_checked))
    return text


def _describe(v: ServiceVerdict, threshold: float, ph: dict[str, str]) -> str:
    if v.min_healthy > 1 and v.servers_passing < v.min_healthy:
        return ph["below_min"].format(service=v.service, passing=v.servers_passing, total=v.servers_total,
                                      min=v.min_healthy)
    if v.severity == "critical":
        return ph["svc_down_all"].format(service=v.service, total=v.servers_total) if v.servers_total > 1 \
            else ph["svc_down_only"].format(service=v.service)
    if v.servers_failing:
        text = ph["svc_failing"].format(service=v.service, failing=v.servers_failing, total=v.servers_total,
                                        pct=_pct(v.servers_failing, v.servers_total))
        if v.severity == "ok":
            text += ph["svc_under"].format(threshold=f"{threshold:g}")
        return text
    if v.servers_slow:
        return ph["svc_slow"].format(service=v.service, slow=v.servers_slow, total=v.servers_total)
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
    servers = max(s.servers_total for s in services)
    if len(services) > 1:
        return ph["all_pass"].format(count=len(services), servers=servers)
    return ph["one_passes"].format(service=services[0].service, servers=servers)
