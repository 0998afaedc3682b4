"""Giving memory back to the system once a big piece of work is over.

CPython frees small objects into its own arenas and glibc keeps freed heap pages mapped: after a probe
shard or a join of thousands of clients, a worker kept ~45 MB it no longer used until its next job, and
an outage's peak is the sum of every process at one moment. `trim` collects, then asks glibc to hand
the free pages back (`malloc_trim`); elsewhere (musl, macOS) it only collects.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import os
from collections.abc import Callable

__all__ = ["rss_mb", "trim"]


def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        fn = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_size_t]
    fn.restype = ctypes.c_int
    return fn


_TRIM = _malloc_trim()


def trim() -> None:
    """Collect garbage, then return free heap pages to the system where libc can."""
    gc.collect()
    if _TRIM is not None:
        _TRIM(0)


def rss_mb() -> float | None:
    """This process's resident set in MB, or None where /proc cannot tell."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, IndexError, ValueError):
        return None
