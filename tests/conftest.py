"""Fixtures on real parts: a private Redis, fake client sites on loopback, an SMTP server."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from responder.store import Store, connect
from tests.support.fleet import Fleet, free_port
from tests.support.redis_server import external_url, private_redis
from tests.support.smtp import Collector, start_smtp

ROOT = Path(__file__).resolve().parent.parent
PAYLOADS = Path(__file__).resolve().parent / "payloads"

# The developer's own settings never reach the code under test or the processes it starts: a Redis
# or a config from the shell would point the tests at something they did not make.
for _name in ("REDIS_URL", "RESPONDER_REDIS_URL", "RESPONDER_CONFIG"):
    os.environ.pop(_name, None)


def _missing_system_packages() -> list[str]:
    """Debian packages (scripts/system-deps.sh) whose tests will skip here, with the tests they gate."""
    from tests.daemons import alertmanager, icinga, zabbix

    out = []
    if not (shutil.which("chromium") or shutil.which("chromium-browser")):
        out.append("chromium (pages in a browser)")
    if not Path(alertmanager.BINARY).exists():
        out.append("prometheus-alertmanager")
    if not Path(icinga.BINARY).exists():
        out.append("icinga2")
    if zabbix.missing():
        out.append(f"{' '.join(zabbix.missing())} (Zabbix)")
    return out


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """One line at the end (shown under -q too) when tests skipped for want of a system package."""
    missing = _missing_system_packages()
    if missing:
        terminalreporter.write_line(f"system packages missing, their tests skip: {', '.join(missing)}; "
                                    "install them with `sudo make system-deps`", yellow=True)


@pytest.fixture(scope="session")
def redis_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = external_url()
    if url:
        yield url
        return
    with private_redis(tmp_path_factory.mktemp("redis")) as (url, _proc):
        yield url


@pytest.fixture
def redis_url(redis_server_url: str) -> str:
    redis.Redis.from_url(redis_server_url).flushdb()
    return redis_server_url


@pytest.fixture
def store(redis_url: str) -> Store:
    return Store(connect(redis_url))


@pytest.fixture
async def fleet() -> AsyncIterator[Fleet]:
    f = Fleet()
    yield f
    await f.close()


@pytest.fixture
def smtp() -> Iterator[Collector]:
    port = free_port()
    controller, collector = start_smtp(port)
    collector.port = port  # type: ignore[attr-defined]
    yield collector
    controller.stop()


@pytest.fixture
async def live_receiver(store: Store, tmp_path: Path) -> AsyncIterator[Any]:
    """The real app on a loopback port, started, for tests where a real daemon posts to it."""
    from tests.daemons.common import LiveReceiver

    r = LiveReceiver(store, tmp_path)
    await r.start()
    yield r
    await r.stop()


@pytest.fixture
async def lab(tmp_path: Path) -> AsyncIterator[Any]:
    """The SSH lab: real asyncssh servers on loopback addresses (tests/support/ssh_server.py)."""
    from tests.support.ssh_server import SshLab

    ssh = SshLab(tmp_path / "ssh")
    yield ssh
    await ssh.close()


def run_responder(*args: str, env: dict[str, str] | None = None, timeout: float = 120,
                  stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real `responder` command in a subprocess."""
    return subprocess.run([sys.executable, "-m", "responder", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=timeout,
                          input=stdin.decode() if stdin is not None else None, cwd=ROOT)


def run_worker(config: Path, redis_url: str) -> subprocess.CompletedProcess[str]:
    """Drain the queues with a real worker process (`responder worker --burst`)."""
    return run_responder("worker", "--burst", "--config", str(config), env={"RESPONDER_REDIS_URL": redis_url})


async def run_responder_async(*args: str, env: dict[str, str] | None = None,
                              stdin: bytes | None = None) -> tuple[int, str, str]:
    """Like run_responder, but lets this test's event loop (its fake sites) keep serving meanwhile."""
    import asyncio

    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "responder", *args, cwd=ROOT, env={**os.environ, **(env or {})},
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(stdin), timeout=300)
    return proc.returncode or 0, out.decode(), err.decode()


async def run_worker_async(config: Path, redis_url: str) -> tuple[int, str, str]:
    return await run_responder_async("worker", "--burst", "--config", str(config),
                                     env={"RESPONDER_REDIS_URL": redis_url})
