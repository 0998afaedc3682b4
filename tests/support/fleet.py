"""Fake client sites on many loopback addresses: real aiohttp servers, broken on request.

Behaviours: "ok", "503" (or any status), "refuse" (nothing listens), "hang" (accepts, never answers),
"slow:SECONDS", "body:TEXT" (200 with that body).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import socket
from dataclasses import dataclass, field

from aiohttp import web

_octet2 = 100 + os.getpid() % 100
_counter = itertools.count(1)


def next_address() -> str:
    """A fresh 127.x.y.z for this session (Linux routes all of 127.0.0.0/8 to lo)."""
    n = next(_counter)
    return f"127.{_octet2}.{(n // 250) % 250}.{n % 250 + 1}"


def free_port(address: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((address, 0))
        return int(s.getsockname()[1])


@dataclass
class Fleet:
    addresses: dict[str, str] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    requests: list[tuple[str, str, str]] = field(default_factory=list)  # (server, host header, path)
    runners: list[web.AppRunner] = field(default_factory=list)
    sites: dict[tuple[str, str], web.AppRunner] = field(default_factory=dict)  # (server, service) -> its site
    hang_forever: asyncio.Event = field(default_factory=asyncio.Event)

    def address(self, server: str) -> str:
        if server not in self.addresses:
            self.addresses[server] = next_address()
        return self.addresses[server]

    def port(self, service: str) -> int:
        if service not in self.ports:
            self.ports[service] = free_port()
        return self.ports[service]

    async def serve(self, server: str, service: str, behaviour: str = "ok") -> None:
        if behaviour == "refuse":
            self.address(server)
            self.port(service)
            return
        app = web.Application()

        async def handler(request: web.Request) -> web.StreamResponse:
            self.requests.append((server, request.headers.get("Host", ""), request.path))
            if behaviour == "hang":
                await self.hang_forever.wait()
            if behaviour.startswith("slow:"):
                await asyncio.sleep(float(behaviour.split(":", 1)[1]))
            if behaviour.isdigit():
                return web.Response(status=int(behaviour), text=f"status {behaviour}")
            if behaviour.startswith("body:"):
                return web.Response(text=behaviour.split(":", 1)[1])
            return web.Response(text=f"OK {server} {service}")

        app.router.add_route("*", "/{tail:.*}", handler)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await runner.setup()
        await web.TCPSite(runner, self.address(server), self.port(service)).start()
        self.runners.append(runner)
        self.sites[(server, service)] = runner

    async def restart(self, server: str, service: str, behaviour: str = "ok") -> None:
        """Stop one site and serve it again with another behaviour (the sites come back, or break)."""
        old = self.sites.pop((server, service), None)
        if old is not None:
            self.runners.remove(old)
            await old.cleanup()
        await self.serve(server, service, behaviour)

    async def close(self) -> None:
        self.hang_forever.set()
        for r in self.runners:
            await r.cleanup()
        self.runners.clear()
