"""The event loop of the commands that do much I/O at once: uvloop's, whose transports and loop are
C. `serve` is CPU-bound on one core in a storm and `check` opens thousands of connections; on
asyncio's own loop each read, write and wake-up costs more Python. The jobs keep asyncio's loop (a
worker's memory is counted to the megabyte and they wait mostly on the network)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import uvloop

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(main)` on a uvloop loop (signals, shutdown and cancellation are asyncio.Runner's)."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)
