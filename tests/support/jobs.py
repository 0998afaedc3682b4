"""RQ jobs for the process tests, run by real `responder worker` processes (cwd is the repository)."""

from __future__ import annotations

import time

from rq import get_current_job


def hold_first_run(retries: int) -> str:
    """The first run (all `retries` left) holds on until its worker is killed; a retry finishes at once."""
    job = get_current_job()
    assert job is not None
    if job.retries_left == retries:
        time.sleep(3600)
    return "finished on a retry"


_KEPT: list[bytearray] = []


def keep(mb: int) -> int:
    """Hold `mb` MB for the life of the worker process (what a job's leftovers look like to it)."""
    _KEPT.append(bytearray(b"x" * (mb << 20)))
    return len(_KEPT)
