"""A real `responder serve` process for the hardening tests: optional prlimit, its log kept in a file."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from tests.conftest import ROOT


@dataclass
class Serve:
    proc: asyncio.subprocess.Process
    base: str
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")


async def wait_until(probe: object, what: str, tries: int = 1200, step: float = 0.05) -> None:
    """Poll `probe()` (sync or async) until it is true; fail naming `what` after `tries` polls."""
    for _ in range(tries):
        result = probe()  # type: ignore[operator]
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        await asyncio.sleep(step)
    raise AssertionError(f"never happened: {what}")


@asynccontextmanager
async def serve(config: Path, port: int, *, workers: int = 0, env: dict[str, str] | None = None,
                prefix: Sequence[str] = (), ready: str = "/healthz") -> AsyncIterator[Serve]:
    """Run `responder serve` until the block ends (SIGTERM, then SIGKILL)."""
    log = config.parent / f"serve-{port}.log"
    base_env = {k: v for k, v in os.environ.items() if k not in ("RESPONDER_REDIS_URL", "REDIS_URL")}
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            *prefix, sys.executable, "-m", "responder", "serve", "--config", str(config), "--workers", str(workers),
            cwd=ROOT, env={**base_env, **(env or {})}, stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=out)
    s = Serve(proc, f"http://127.0.0.1:{port}", log)
    try:
        async with aiohttp.ClientSession() as session:
            async def up() -> bool:
                if proc.returncode is not None:
                    raise AssertionError(f"serve exited: {s.output()}")
                try:
                    async with session.get(s.base + ready) as r:
                        return r.status == 200
                except aiohttp.ClientError:
                    return False
            await wait_until(up, "serve answers", tries=600, step=0.1)
        yield s
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 60)
            except TimeoutError:
                proc.kill()
                await proc.wait()
