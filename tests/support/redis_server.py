"""A private, real Redis for the test session, or the one `RESPONDER_TEST_REDIS_URL` names.

Never `REDIS_URL`: many stacks set it for their own apps, and the tests flush the database they use.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import redis

from responder.runtime.embedded import _redis_binary


@contextlib.contextmanager
def private_redis(directory: Path, appendonly: bool = False) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Start redis-server on a unix socket in `directory`; yield its URL and process."""
    directory.mkdir(parents=True, exist_ok=True)
    sock = directory / "redis.sock"
    proc = start_redis(directory, appendonly)
    try:
        yield f"unix://{sock}", proc
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)


def start_redis(directory: Path, appendonly: bool = False) -> subprocess.Popen[bytes]:
    sock = directory / "redis.sock"
    args = [_redis_binary(), "--port", "0", "--unixsocket", str(sock), "--dir", str(directory),
            "--save", "", "--appendonly", "yes" if appendonly else "no", "--appendfsync", "always"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with contextlib.suppress(redis.RedisError):
            if redis.Redis(unix_socket_path=str(sock)).ping():
                return proc
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("the test Redis did not start")


TEST_REDIS_ENV = "RESPONDER_TEST_REDIS_URL"


def external_url() -> str | None:
    """A Redis the developer gave the tests on purpose (they flush it), or None for a private one."""
    return os.environ.get(TEST_REDIS_ENV) or None
