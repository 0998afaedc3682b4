"""What every daemon test shares: the real receiver on a loopback port, and waiting for a daemon to act."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from responder.config import Config, from_data
from responder.store import Store
from responder.web.app import make_app
from tests.support.fleet import free_port

TOKEN = "integration-token"
# a guard against a daemon that never acts (a broken setup), not a timing assertion: daemons act in seconds
HANG_GUARD = 300.0

INVENTORY: dict[str, Any] = {
    "services": {"shop": {"url": "http://{address}:8001/"}},
    "servers": {"web-01": {"address": "127.0.0.11"}, "web-02": {"address": "127.0.0.12"},
                "db-01": {"address": "127.0.0.21"}},
    "clients": {"acme": {"servers": ["web-01", "web-02"], "services": ["shop"], "depends_on": ["db-01"]},
                "globex": {"servers": ["web-02"], "services": ["shop"]}},
}


def require(*binaries: str) -> None:
    """Skip, saying which package to install, when a daemon is not here (`.ci/run` installs them)."""
    missing = [b for b in binaries if not (shutil.which(b) or Path(b).exists())]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (Debian packages, see scripts/system-deps.sh)")


class LiveReceiver:
    """`responder serve`'s app on a real loopback port, so a daemon or a notify process can reach it.
    With `answer`, a stand-in that answers every hook with that status (a receiver in trouble)."""

    def __init__(self, store: Store, tmp_path: Path, inventory: dict[str, Any] | None = None,
                 token: str = TOKEN, answer: int | None = None, settings: dict[str, Any] | None = None) -> None:
        self.store = store
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = token
        self.config: Config = from_data({"inventory": inventory or INVENTORY, "auth": {"tokens": [token]},
                                         "incidents": {"group_wait": "10s"}, **(settings or {})}, base=tmp_path)
        self.answer = answer
        self.runner: web.AppRunner | None = None

    async def start(self) -> None:
        if self.answer is None:
            app = make_app(self.config, self.store)
        else:
            app = web.Application()

            async def fixed(request: web.Request) -> web.Response:
                return web.json_response({"error": "busy"}, status=self.answer or 500)

            app.router.add_post("/hooks/{source}", fixed)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self.runner:
            await self.runner.cleanup()
            self.runner = None

    def notify_config(self, directory: Path) -> Path:
        """The small responder.yaml of a monitoring host: the receiver and a spool."""
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / "responder.yaml"
        path.write_text(f"state_dir: {directory / 'var'}\nreceiver: {{url: '{self.url}', token: '{self.token}'}}\n")
        path.chmod(0o644)
        return path


async def wait_until(check: Callable[[], Any | Awaitable[Any]], what: str,
                     log: Callable[[], str] = lambda: "") -> Any:
    """Poll until `check` answers something truthy; the test's event loop keeps serving meanwhile."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + HANG_GUARD
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"never happened: {what} (last seen: {value!r})\n--- daemon log ---\n"
                                 f"{log()[-6000:]}")
        await asyncio.sleep(0.2)


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """Terminate a daemon, and kill it if it does not go."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def tail(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return f"({path} not readable)"
