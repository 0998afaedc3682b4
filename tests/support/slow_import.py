"""A job module that takes 3 s to import (a cold worker importing the probe's stack, slowed down)."""

from __future__ import annotations

import time

time.sleep(3)


def done() -> str:
    return "imported and ran"
