"""The assessment: probe every service of the affected clients, judge, gather evidence, join.

`assess_job` is re-exported so jobs queued by 0.1 under `workers.assess.assess_job` still run
(remove in 0.3).
"""

from workers.assess.job import assess_job

__all__ = ["assess_job"]
