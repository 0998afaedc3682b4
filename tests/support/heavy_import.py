"""A job module that costs 40 MB to import (as aiohttp, jinja2 or asyncssh cost a fresh worker some)."""

from __future__ import annotations

_TABLE = bytearray(b"x" * (40 << 20))


def small() -> int:
    """A job that leaves nothing behind."""
    return len(_TABLE) >> 20
