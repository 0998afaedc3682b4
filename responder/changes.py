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


def diff(previous: ClientVerdict | None, current: ClientVerdict) -> list[str]:
    """Sentences describing the change from `previous` to `current`; [] for a first assessment."""
    if previous is None:
        return []
    out: list[str] = []
    if previous.severity != current.severity:
        out.append(f"{previous.severity} → {current.severity}")
    before, after = _checks(previous), _checks(current)
    failing, recovered, shifts = [], [], []
    for key, now in sorted(after.items()):
        service, server = key
        was = before.get(key)
        if not now.ok and (was is None or was.ok):
            failing.append(f"{service} on {server} now failing: {now.error or now.status}")
        elif now.ok and was is not None and not was.ok:
            recovered.append(f"{service} on {server} recovered")
        elif now.ok and was is not None and was.ok and now.latency_ms and was.latency_ms:
            a, b = was.latency_ms, now.latency_ms
            if abs(b - a) >= LATENCY_STEP_MS and (b >= 2 * a or a >= 2 * b):
                word = "slower" if b > a else "faster"
                shifts.append(f"{service} on {server} {word}: {a:.0f} → {b:.0f} ms")
    gone = [f"{service} on {server} no longer checked" for (service, server) in sorted(set(before) - set(after))]
    return out + failing + recovered + shifts + gone
