"""Compatibility: jobs queued by 0.1 name `workers.notify.dispatch.notify_job`. Remove in 0.3."""

from workers.notify.job import notify_job

__all__ = ["notify_job"]
