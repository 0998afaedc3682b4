"""Probe throughput, and the old script's bug reproduced: 8,000 checks, 200 at a time.

The fleet (200 addresses, 40 pages each, every answer 50 ms late) runs in its own process. Responder's
probe starts a check's timeout when it holds a slot; the naive variant (aiohttp's own total timeout
with a 200-connection pool) also times the wait for a free connection, so healthy pages "time out".
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator

import aiohttp

from bench.fleet import address
from responder.config import ProbeConfig
from responder.inventory import Server, ServiceSpec, make_target
from tests.support.fleet import free_port
from workers.assess.probe import probe

SERVERS, PAGES, DELAY_MS, CONCURRENCY, TIMEOUT = 200, 40, 50, 200, 1.0


@contextlib.contextmanager
def fleet(port: int) -> Iterator[None]:
    proc = subprocess.Popen([sys.executable, "-m", "bench.fleet", str(SERVERS), str(port), str(DELAY_MS)],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        yield
    finally:
        proc.terminate()
        proc.wait()


async def naive(urls: list[str]) -> int:
    """The old way: one total timeout that includes waiting for a pooled connection."""
    timeouts = 0
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=TIMEOUT)) as s:

        async def one(url: str) -> None:
            nonlocal timeouts
            try:
                async with s.get(url) as r:
                    await r.read()
            except TimeoutError:
                timeouts += 1

        await asyncio.gather(*(one(u) for u in urls))
    return timeouts


def run() -> list[str]:
    port = free_port()
    targets = [make_target("bench", f"page{p}", ServiceSpec(url=f"http://{{address}}:{port}/page{p}"),
                           f"s{i}", Server(address=address(i))) for i in range(SERVERS) for p in range(PAGES)]
    cfg = ProbeConfig(timeout=TIMEOUT, retries=0, concurrency=CONCURRENCY)
    lines = [f"{len(targets)} checks, {SERVERS} servers, pages answer in {DELAY_MS} ms, "
             f"concurrency {CONCURRENCY}, timeout {TIMEOUT:g} s"]
    with fleet(port):
        started = time.perf_counter()
        results = asyncio.run(probe(targets, cfg))
        took = time.perf_counter() - started
        failed = sum(not r.check.ok for r in results)
        lines.append(f"responder probe : {took:6.2f} s  {len(targets) / took:7.0f} checks/s  "
                     f"false failures {failed}")
        started = time.perf_counter()
        timeouts = asyncio.run(naive([t.connect_url for t in targets]))
        took = time.perf_counter() - started
        lines.append(f"naive total-timeout: {took:6.2f} s  false timeouts {timeouts} of {len(targets)}")
    return lines
