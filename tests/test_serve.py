"""`responder serve` as users run it: the embedded Redis, supervised workers, persistence, restarts."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp

from tests.conftest import run_responder_async
from tests.support.fleet import Fleet, free_port
from tests.support.scenario import shared_fleet, storm, write_config
from tests.support.serve_process import serve

AUTH = {"Authorization": "Bearer test-token", "Content-Type": "application/json"}
serve_pid: list[int] = []  # the pid of the serve started last


@asynccontextmanager
async def serving(config: Path, workers: int = 1) -> AsyncIterator[str]:
    """Run `responder serve` on the config's listen port until the block ends; yield its base URL."""
    text = config.read_text()
    port = int(text.split("listen: 127.0.0.1:")[1].split()[0].strip("'\""))
    async with serve(config, port, workers=workers, ready="/readyz") as s:
        serve_pid[:] = [s.pid]
        yield s.base


async def wait_assessed(session: aiohttp.ClientSession, base: str, iid: str) -> dict:  # type: ignore[type-arg]
    for _ in range(1200):
        async with session.get(f"{base}/api/incidents/{iid}") as r:
            data = await r.json()
        if data.get("severity") and not data.get("pending"):
            return data  # type: ignore[no-any-return]
        await asyncio.sleep(0.1)
    raise AssertionError(f"incident {iid} was never assessed")


async def test_serve_with_embedded_redis_and_workers(fleet: Fleet, tmp_path: Path) -> None:
    inventory = await shared_fleet(fleet)
    path = write_config(tmp_path, inventory, listen=f"127.0.0.1:{free_port()}")
    async with serving(path) as base, aiohttp.ClientSession() as session:
        async with session.post(f"{base}/hooks/alertmanager", data=storm(fleet), headers=AUTH) as r:
            assert r.status == 202
            [iid] = (await r.json())["incidents"]
        data = await wait_assessed(session, base, iid)
        assert data["severity"] == "critical"
        async with session.get(f"{base}/metrics") as r:
            assert "responder_store_up 1.0" in await r.text()
    assert (tmp_path / "var" / "redis" / "appendonly.aof").exists() or \
        (tmp_path / "var" / "redis" / "appendonlydir").exists()
    # the embedded Redis is persistent: a new serve still knows the incident
    async with serving(path, workers=0) as base, aiohttp.ClientSession() as session, \
            session.get(f"{base}/api/incidents/{iid}") as r:
        assert r.status == 200 and (await r.json())["severity"] == "critical"
    # and the CLI reads it too, starting the embedded Redis on its own when serve is not running
    code, out, err = await run_responder_async("incident", iid, "--json", "--config", str(path),
                                               env={"RESPONDER_REDIS_URL": ""})
    assert code == 0, err
    assert '"severity": "critical"' in out


async def test_a_killed_worker_loses_nothing(fleet: Fleet, tmp_path: Path) -> None:
    """Kill every worker process while the assessment runs: serve restarts them and RQ retries the job."""
    await fleet.serve("slow1", "web", "slow:3")
    inventory = {
        "services": {"web": {"url": f"http://{{address}}:{fleet.port('web')}/"}},
        "servers": {"slow1": {"address": fleet.address("slow1")}},
        "clients": {"acme": {"servers": ["slow1"], "services": ["web"]}},
    }
    path = write_config(tmp_path, inventory, listen=f"127.0.0.1:{free_port()}", probe={"timeout": "10s", "retries": 0})
    async with serving(path) as base, aiohttp.ClientSession() as session:
        pid = serve_pid[0]
        async with session.post(f"{base}/hooks/alertmanager", data=storm(fleet, hosts=("slow1",)), headers=AUTH) as r:
            [iid] = (await r.json())["incidents"]
        for _ in range(200):  # wait until the probe is under way
            if fleet.requests:
                break
            await asyncio.sleep(0.05)
        assert fleet.requests, "the worker never probed"
        killed = kill_workers(pid)
        assert killed
        data = await wait_assessed(session, base, iid)
        assert data["severity"] == "ok" and data["status"] == "assessed"
        assert len(fleet.requests) >= 2  # probed again after the kill


def children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def kill_workers(serve: int) -> int:
    """SIGKILL the worker processes of this serve (and their work-horses), nothing else on the machine."""
    victims = [w for w in children(serve) if b"worker" in Path(f"/proc/{w}/cmdline").read_bytes()]
    victims += [h for w in victims for h in children(w)]
    for pid in victims:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return len(victims)
