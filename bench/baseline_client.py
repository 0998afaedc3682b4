"""The baseline prober: the least a correct aiohttp client does, as a process.

    python -m bench.baseline_client URLS.json CONCURRENCY TIMEOUT OUT.json

One ClientSession, a TCPConnector whose limit is the concurrency, a semaphore taken before each
request and the timeout started once it is held (so waiting for a slot never counts), no retries.
OUT gets one outcome per URL, in order: the HTTP status, "timeout", "refused" or "error".
"""

from __future__ import annotations

import asyncio
import json
import sys

import aiohttp


async def main(urls: list[str], concurrency: int, timeout: float) -> list[int | str]:
    slots = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(url: str) -> int | str:
            async with slots:
                try:
                    async with asyncio.timeout(timeout), session.get(url, allow_redirects=False) as r:
                        await r.read()
                        return r.status
                except TimeoutError:
                    return "timeout"
                except aiohttp.ClientConnectorError as exc:
                    return "refused" if isinstance(exc.os_error, ConnectionRefusedError) else "error"
                except aiohttp.ClientError:
                    return "error"

        return await asyncio.gather(*(one(u) for u in urls))


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        targets = json.load(f)
    outcomes = asyncio.run(main(targets, int(sys.argv[2]), float(sys.argv[3])))
    with open(sys.argv[4], "w") as f:
        json.dump(outcomes, f)
