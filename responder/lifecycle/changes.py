"""What changed for a client since its previous assessment: shown first in every message.

Pure functions over two verdicts. A change is a sentence a person reads: a new failure, a recovered
check, a severity step, a latency shift large enough to matter.
"""

from __future__ import annotations

from responder.model.verdict import Check, ClientVerdict
from responder.wording import phrases

# a latency shift is news when it at least doubles (or halves) and moves by this much
LATENCY_STEP_MS = 200.0


def _checks(v: ClientVerdict) -> dict[tuple[str, str], Check]:
    return {(s.service, k.server): k for s in v.services for k in s.checks}


def diff(previous: ClientVerdict | None, current: ClientVerdict, language: str = "en") -> list[str]:
    """Sentences describing the change from `previous` to `current`; [] for a first assessment."""
    if previous is None:
        return []
    ph = phrases(language)
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


def headline(clients: list[ClientVerdict], resolved: bool, language: str = "en",
             was_failing: bool = True) -> str | None:
    """The incident's one line once its alerts are resolved: recovered (only if something was failing),
    or what still fails."""
    ph = phrases(language)
    if resolved:
        return ph["recovered_all"] if was_failing else ph["resolved_all_pass"]
    still = sorted({ph["at"].format(service=s.service, server=k.server) for c in clients for s in c.services
                    for k in s.checks if not k.ok})
    if not still:
        return ph["still_slow"]
    shown = ", ".join(still[:5])
    if len(still) > 5:
        shown = ph["more"].format(shown=shown, n=len(still) - 5)
    return ph["still"].format(what=shown)
