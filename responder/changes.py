"""What changed for a client since its previous assessment: shown first in every message.

Pure functions over two verdicts. A change is a sentence a person reads: a new failure, a recovered
check, a severity step, a latency shift large enough to matter.
"""

from __future__ import annotations

from responder.verdict import Check, ClientVerdict

# a latency shift is news when it at least doubles (or halves) and moves by this much
LATENCY_STEP_MS = 200.0


def _checks(v: ClientVerdict) -> dict[tuple[str, str], Check]:
    return {(s.service, k.server): k for s in v.services for k in s.checks}


PHRASES: dict[str, dict[str, str]] = {
    "en": {
        "step": "{a} → {b}", "at": "{service} on {server}", "failing": "{at} now failing: {error}",
        "recovered": "{at} recovered", "slower": "{at} slower: {a} → {b} ms", "faster": "{at} faster: {a} → {b} ms",
        "gone": "{at} no longer checked", "more": "{shown} and {n} more",
        "all_pass": "recovered: every check passes", "still": "alerts resolved, but {what} still failing",
        "still_slow": "alerts resolved, but checks are still slow",
        "critical": "critical", "degraded": "degraded", "ok": "ok",
    },
    "ru": {
        "step": "{a} → {b}", "at": "{service} на {server}", "failing": "{at}: сбой: {error}",
        "recovered": "{at}: восстановлен", "slower": "{at}: медленнее: {a} → {b} мс",
        "faster": "{at}: быстрее: {a} → {b} мс", "gone": "{at}: больше не проверяется",
        "more": "{shown} и ещё {n}", "all_pass": "восстановлено: все проверки проходят",
        "still": "алерты сняты, но сбой продолжается: {what}",
        "still_slow": "алерты сняты, но проверки всё ещё медленные",
        "critical": "критично", "degraded": "деградация", "ok": "норма",
    },
}


def diff(previous: ClientVerdict | None, current: ClientVerdict, language: str = "en") -> list[str]:
    """Sentences describing the change from `previous` to `current`; [] for a first assessment."""
    if previous is None:
        return []
    ph = PHRASES.get(language, PHRASES["en"])
    out: list[str] = []
    if previous.severity != current.severity:
        out.append(ph["step"].format(a=ph[previous.severity], b=ph[current.severity]))
    before, after = _checks(previous), _checks(current)
    failing, recovered, shifts = [], [], []
    for key, now in sorted(after.items()):
        service, server = key
        at = ph["at"].format(service=service, server=server)
        was = before.get(key)
        if not now.ok and (was is None or was.ok):
            failing.append(ph["failing"].format(at=at, error=now.error or now.status))
        elif now.ok and was is not None and not was.ok:
            recovered.append(ph["recovered"].format(at=at))
        elif now.ok and was is not None and was.ok and now.latency_ms and was.latency_ms:
            a, b = was.latency_ms, now.latency_ms
            if abs(b - a) >= LATENCY_STEP_MS and (b >= 2 * a or a >= 2 * b):
                shifts.append(ph["slower" if b > a else "faster"].format(at=at, a=f"{a:.0f}", b=f"{b:.0f}"))
    gone = [ph["gone"].format(at=ph["at"].format(service=service, server=server))
            for (service, server) in sorted(set(before) - set(after))]
    return out + failing + recovered + shifts + gone


def headline(clients: list[ClientVerdict], resolved: bool, language: str = "en") -> str | None:
    """The incident's one line once its alerts are resolved: recovered, or what still fails."""
    ph = PHRASES.get(language, PHRASES["en"])
    if resolved:
        return ph["all_pass"]
    still = sorted({ph["at"].format(service=s.service, server=k.server) for c in clients for s in c.services
                    for k in s.checks if not k.ok})
    if not still:
        return ph["still_slow"]
    shown = ", ".join(still[:5])
    if len(still) > 5:
        shown = ph["more"].format(shown=shown, n=len(still) - 5)
    return ph["still"].format(what=shown)
