"""No child outlives its parent: the kernel signals a child when the process that made it dies.

Linux's PR_SET_PDEATHSIG (prctl(2)) is set in the child, so it holds even when the parent is killed
with SIGKILL and runs no code of its own: the RQ scheduler and work-horse a worker forks, the workers
`serve` starts, and the embedded redis-server. Elsewhere (no prctl) these are no-ops, and children
are stopped by the parents' own shutdown paths as before.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
from collections.abc import Callable

PR_SET_PDEATHSIG = 1
PARENT_PID_ENV = "RESPONDER_PARENT_PID"  # set by `serve` for the workers it starts


def _prctl() -> Callable[..., int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _prctl()  # looked up before any fork: the child only makes the call


def die_with_parent(parent: int, sig: int = signal.SIGTERM) -> None:
    """In a child: be sent `sig` when the parent dies; exit now if `parent` is already gone."""
    if _PRCTL is None:
        return
    _PRCTL(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    if os.getppid() != parent:  # the parent died between the fork and the prctl
        os.kill(os.getpid(), sig)


def preexec(sig: int = signal.SIGTERM) -> Callable[[], None] | None:
    """A subprocess preexec_fn tying the new process to this one (None where prctl is missing)."""
    if _PRCTL is None:
        return None
    parent = os.getpid()
    return lambda: die_with_parent(parent, sig)


_forks_tied = False


def tie_forks(sig: int = signal.SIGTERM) -> None:
    """Every process this one forks from now on dies with it (once per process)."""
    global _forks_tied
    if _forks_tied or _PRCTL is None:
        return
    _forks_tied = True
    parent = [os.getpid()]

    def before() -> None:
        parent[0] = os.getpid()

    os.register_at_fork(before=before, after_in_child=lambda: die_with_parent(parent[0], sig))


def tie_to_supervisor() -> None:
    """In a worker that `serve` started: die with `serve` (the pid it handed down)."""
    raw = os.environ.get(PARENT_PID_ENV, "")
    if raw.isascii() and raw.isdigit():
        die_with_parent(int(raw))
