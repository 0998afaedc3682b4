"""Intake: host lookups at 100 and 10,000 servers, and webhooks per second into a real Redis.

The webhook load comes from a client in this process against `make_app` on a real TCP port, with a
private redis-server (AOF fsync on every write, as the embedded default) in its own process.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp
from aiohttp import web

from responder.config import from_data
from responder.inventory import load_inventory_data
from responder.store import Store, connect
from responder.web.app import make_app
from tests.support.fleet import free_port
from tests.support.redis_server import private_redis

WEBHOOKS, ALERTS_EACH, PARALLEL = 2000, 10, 20


def inventory(n: int) -> dict:  # type: ignore[type-arg]
    servers = {f"web-{i:05d}": {"address": f"10.{i // 65536}.{(i // 256) % 256}.{i % 256}",
                                "aliases": [f"web-{i:05d}.dc1.example.net"]} for i in range(n)}
    clients = {f"c{i:05d}": {"servers": [f"web-{(i * 3 + k) % n:05d}" for k in range(3)], "services": ["s"]}
               for i in range(max(1, n // 5))}
    return {"services": {"s": {"url": "http://{address}/"}}, "servers": servers, "clients": clients}


def lookups(n: int, count: int = 200_000) -> str:
    inv = load_inventory_data(inventory(n))
    hosts = [f"web-{i % n:05d}.dc1.example.net:9100" for i in range(0, count * 7, 7)]
    started = time.perf_counter()
    for h in hosts:
        inv.lookup(h)
    took = time.perf_counter() - started
    return f"lookup at {n:>6} servers: {took / count * 1e6:5.2f} µs per host ({count / took:,.0f}/s)"


def body(i: int) -> bytes:
    alerts = [{"status": "firing", "labels": {"alertname": "Down", "instance": f"web-{(i * 10 + k) % 1000:05d}:9100"},
               "startsAt": f"2025-11-18T09:{i // 60 % 60:02d}:{i % 60:02d}Z", "fingerprint": f"{i:08x}{k:08x}"}
              for k in range(ALERTS_EACH)]
    return json.dumps({"version": "4", "status": "firing", "alerts": alerts}).encode()


async def hooks(url: str, directory: Path) -> list[str]:
    cfg = from_data({"inventory": inventory(1000), "auth": {"tokens": ["t"]},
                     "incidents": {"group_wait": "10s"}}, base=directory)
    runner = web.AppRunner(make_app(cfg, Store(connect(url))), access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    latencies: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(WEBHOOKS):
        queue.put_nowait(i)
    headers = {"Authorization": "Bearer t", "Content-Type": "application/json"}
    async with aiohttp.ClientSession() as session:

        async def client() -> None:
            while not queue.empty():
                i = queue.get_nowait()
                t0 = time.perf_counter()
                async with session.post(f"http://127.0.0.1:{port}/hooks/alertmanager", data=body(i),
                                        headers=headers) as r:
                    assert r.status == 202, await r.text()
                latencies.append(time.perf_counter() - t0)

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(PARALLEL)))
        took = time.perf_counter() - started
    await runner.cleanup()
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99)]
    return [f"webhooks: {WEBHOOKS} × {ALERTS_EACH} alerts, {PARALLEL} in parallel: {WEBHOOKS / took:,.0f} webhooks/s "
            f"({WEBHOOKS * ALERTS_EACH / took:,.0f} alerts/s), 202 latency p50 "
            f"{statistics.median(latencies) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms"]


def run() -> list[str]:
    lines = [lookups(100), lookups(10_000)]
    with tempfile.TemporaryDirectory() as tmp, private_redis(Path(tmp), appendonly=True) as (url, _):
        lines += asyncio.run(hooks(url, Path(tmp)))
    return lines
