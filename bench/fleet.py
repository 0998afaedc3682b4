"""A benchmark fleet in its own process: N loopback addresses answering HTTP on one port.

    python -m bench.fleet N PORT DELAY_MS     prints "ready" when every address listens
"""

from __future__ import annotations

import asyncio
import sys

from aiohttp import web


def address(i: int) -> str:
    return f"127.77.{i // 250}.{i % 250 + 1}"


async def main(n: int, port: int, delay_ms: float) -> None:
    async def page(request: web.Request) -> web.Response:
        if delay_ms:
            await asyncio.sleep(delay_ms / 1000.0)
        return web.Response(text="OK")

    app = web.Application()
    app.router.add_get("/{tail:.*}", page)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    for i in range(n):
        await web.TCPSite(runner, address(i), port, backlog=1024).start()
    print("ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])))
