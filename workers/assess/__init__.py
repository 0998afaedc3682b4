"""The assessment: probe every service of the affected clients, judge, gather evidence, join.

`assess_job` is still found here so jobs queued by 0.1 under `workers.assess.assess_job` run
(remove in 0.3). It is looked up on first use: importing it here would bring redis and rq into
`check`, which runs the assessment in its own process (workers/assess/inline.py).
"""

from __future__ import annotations

from typing import Any

__all__ = ["assess_job"]


def __getattr__(name: str) -> Any:
    if name == "assess_job":
        from workers.assess.job import assess_job

        return assess_job
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
