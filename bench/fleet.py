"""A fake fleet in its own process: many loopback listeners speaking just enough HTTP/1.1.

    python -m bench.fleet SPEC.json      prints "ready" once every listener listens

SPEC: {"listeners": [[address, port], ...], "status": {"addr:port/path": 503, ...},
       "hang": ["addr:port", "addr:port/path", ...]}
Every other request is answered `200 OK` with the body `OK`, keep-alive. A "hang" listener or path
accepts the request and never answers. An address:port that is not listed refuses connections
(nothing listens there).

It counts requests per distinct (address, port, path, Host) and notes when the first one arrived
(time.time()). On stdin: `stats` prints one JSON line of counts, `reset` clears them; end of stdin
stops the fleet, so it never outlives the bench.
"""

from __future__ import annotations

import asyncio
import functools
import json
import socket
import sys
import time
from typing import Any

OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nOK"


def status_line(code: int) -> bytes:
    return (f"HTTP/1.1 {code} Bench\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n\r\nfailed").encode()


class Counts:
    def __init__(self) -> None:
        self.by_request: dict[tuple[str, int, str, str], int] = {}
        self.first_at: float | None = None
        self.total = 0

    def add(self, key: tuple[str, int, str, str]) -> None:
        if self.first_at is None:
            self.first_at = time.time()
        self.total += 1
        self.by_request[key] = self.by_request.get(key, 0) + 1

    def stats(self) -> dict[str, Any]:
        values = list(self.by_request.values())
        return {"first_at": self.first_at, "requests": self.total, "distinct": len(values),
                "max": max(values, default=0), "sum": sum(values)}


class Http(asyncio.Protocol):
    def __init__(self, fleet: Fleet, address: str, port: int) -> None:
        self.fleet, self.address, self.port = fleet, address, port
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
            self.answer(head)

    def answer(self, head: bytes) -> None:
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ")
        path = parts[1].decode("latin-1") if len(parts) > 1 else "/"
        host = ""
        for line in lines[1:]:
            if line[:5].lower() == b"host:":
                host = line[5:].strip().decode("latin-1")
                break
        self.fleet.counts.add((self.address, self.port, path, host))
        where = f"{self.address}:{self.port}"
        if where in self.fleet.hang or f"{where}{path}" in self.fleet.hang:
            return  # accepted, read, never answered
        code = self.fleet.status.get(f"{where}{path}")
        assert self.transport is not None
        self.transport.write(status_line(code) if code else OK)


class Fleet:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.listeners = [(str(a), int(p)) for a, p in spec.get("listeners", [])]
        self.status = {str(k): int(v) for k, v in spec.get("status", {}).items()}
        self.hang = set(spec.get("hang", []))
        self.counts = Counts()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        for address, port in self.listeners:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((address, port))
            sock.listen(4096)
            sock.setblocking(False)
            await loop.create_server(functools.partial(Http, self, address, port), sock=sock)


async def main(spec_path: str) -> None:
    from bench.common import raise_nofile

    raise_nofile()
    with open(spec_path) as f:
        fleet = Fleet(json.load(f))
    await fleet.start()
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        command = line.strip().decode()
        if command == "stats":
            print(json.dumps(fleet.counts.stats()), flush=True)
        elif command == "reset":
            fleet.counts = Counts()
            print("{}", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))


# -- the parent's side ----------------------------------------------------------------------------------


def address(i: int, net: int = 77) -> str:
    """The i-th loopback address of a fleet (Linux routes all of 127.0.0.0/8 to lo)."""
    return f"127.{net}.{i // 250}.{i % 250 + 1}"


class FleetProcesses:
    """The fleet split over as many processes as the open-file limit needs (at least `processes`)."""

    def __init__(self, spec: dict[str, Any], directory: Any, processes: int = 1) -> None:
        from bench.common import nofile_limit

        listeners = spec.get("listeners", [])
        per_process = max(1000, nofile_limit() // 2 - 500)  # the rest is for the connections they accept
        n = max(processes, -(-len(listeners) // per_process))
        self.parts = [dict(spec, listeners=listeners[k::n]) for k in range(n)]
        self.directory = directory
        self.procs: list[Any] = []

    def __enter__(self) -> FleetProcesses:
        import subprocess

        from bench.common import PY, ROOT, env

        try:
            for k, part in enumerate(self.parts):
                path = self.directory / f"fleet-{k}.json"
                path.write_text(json.dumps(part))
                self.procs.append(subprocess.Popen([PY, "-m", "bench.fleet", str(path)], cwd=ROOT, env=env(),
                                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
            for proc in self.procs:
                line = proc.stdout.readline().strip()
                if line != "ready":
                    raise RuntimeError(f"fleet did not start: {line!r}")
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        from bench.common import stop

        for proc in self.procs:
            if proc.stdin:
                proc.stdin.close()
        for proc in self.procs:
            try:
                proc.wait(10)
            except Exception:
                stop(proc)

    def _ask(self, command: str) -> list[dict[str, Any]]:
        for proc in self.procs:
            proc.stdin.write(command + "\n")
            proc.stdin.flush()
        return [json.loads(proc.stdout.readline()) for proc in self.procs]

    def reset(self) -> None:
        self._ask("reset")

    def stats(self) -> dict[str, Any]:
        parts = self._ask("stats")
        firsts = [p["first_at"] for p in parts if p["first_at"] is not None]
        distinct = sum(p["distinct"] for p in parts)
        return {"first_at": min(firsts) if firsts else None, "requests": sum(p["requests"] for p in parts),
                "distinct": distinct, "max": max((p["max"] for p in parts), default=0),
                "mean": sum(p["sum"] for p in parts) / distinct if distinct else 0.0}
