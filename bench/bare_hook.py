"""The ingest baseline: a bare aiohttp handler that parses the JSON body and answers 202.

    python -m bench.bare_hook PORT [uvloop]    prints "ready" once it listens; uvloop: on uvloop's loop
                                               (serve's), for the reference figure; else asyncio's
"""

from __future__ import annotations

import sys

from aiohttp import web


async def hook(request: web.Request) -> web.Response:
    body = await request.json()
    return web.json_response({"accepted": len(body.get("alerts", []))}, status=202)


def main(port: int, on_uvloop: bool = False) -> None:
    app = web.Application()
    app.router.add_post("/hooks/alertmanager", hook)
    loop = None
    if on_uvloop:
        import uvloop

        loop = uvloop.new_event_loop()
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, loop=loop,
                print=lambda *_: print("ready", flush=True))


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2:] == ["uvloop"])
