"""Counters and histograms for /metrics that worker processes produce and `serve` reports.

Workers are separate processes, so what they count lives in one hash, `stats`, read at scrape time.
Fields: `c|<name>|<label>|...` for counters; `h|<name>|<bucket>` (cumulative), `h|<name>|count` and
`h|<name>|sum` for histograms.
"""

from __future__ import annotations

from typing import Any

from responder.store.base import text
from responder.store.ledger import Ledger


class Stats(Ledger):
    BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

    def count(self, name: str, *labels: str, n: int = 1, pipe: Any = None) -> None:
        (pipe or self.r).hincrby(self._key("stats"), "|".join(["c", name, *labels]), n)

    def observe(self, name: str, values: list[float]) -> None:
        """Add durations (seconds) to a histogram, in one round trip."""
        if not values:
            return
        with self.r.pipeline(transaction=False) as pipe:
            for b in self.BUCKETS:
                n = sum(1 for v in values if v <= b)
                if n:
                    pipe.hincrby(self._key("stats"), f"h|{name}|{b:g}", n)
            pipe.hincrby(self._key("stats"), f"h|{name}|count", len(values))
            pipe.hincrbyfloat(self._key("stats"), f"h|{name}|sum", sum(values))
            pipe.execute()

    def stats(self) -> dict[str, float]:
        return {text(k): float(v) for k, v in self.r.hgetall(self._key("stats")).items()}
