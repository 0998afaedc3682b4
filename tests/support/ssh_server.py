"""Real SSH servers on loopback addresses for the collector's tests and benchmark.

Each server is an asyncssh server on its own 127.x.y.z address that runs the command it is sent with a
real `/bin/sh -c` in its own directory, so quoting is proved by an actual shell, not by a fake that
pretends to understand `tail` and `grep`. The lab also makes the client key and the known_hosts file,
and can break a server on request: an untrusted or changed host key, a key it refuses, a TCP port that
never finishes the handshake, or a jump host that forwards connections.

`python -m tests.support.ssh_server DIR COUNT` serves COUNT servers from another process (the benchmark
uses it so that both clients it compares pay the same server costs); it prints one JSON line describing
them and serves until its stdin closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import asyncssh

from tests.support.fleet import free_port, next_address

Trust = Literal["trusted", "unknown", "changed"]
SHELL_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LC_ALL": "C"}


@dataclass
class SshHost:
    """One server of the lab, and what it saw."""

    name: str
    address: str
    port: int
    root: Path  # its files live here; commands run with this as the working directory
    trust: Trust = "trusted"
    stall: bool = False  # accepts TCP, never speaks SSH
    jump: bool = False  # forwards direct TCP/IP connections (a bastion)
    host_key: asyncssh.SSHKey | None = None
    connections: int = 0
    usernames: list[str] = field(default_factory=list)  # who logged in (per connection)
    commands: list[str] = field(default_factory=list)
    forwarded: list[tuple[str, int]] = field(default_factory=list)
    accept_key: bool = True

    def write(self, relative: str, content: str | bytes) -> Path:
        """Put a file on the server (a log, usually) and return its absolute path."""
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        data = content.encode() if isinstance(content, str) else content
        path.write_bytes(data)
        return path


class _Server(asyncssh.SSHServer):
    def __init__(self, lab: SshLab, host: SshHost) -> None:
        self.lab = lab
        self.host = host

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self.host.connections += 1

    def begin_auth(self, username: str) -> bool:
        self.host.usernames.append(username)
        return True

    def password_auth_supported(self) -> bool:
        return False

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        return self.host.accept_key and key.public_data == self.lab.client_key.public_data

    def connection_requested(self, dest_host: str, dest_port: int, orig_host: str, orig_port: int) -> bool:
        if not self.host.jump:
            return False
        self.host.forwarded.append((dest_host, dest_port))
        return True


class SshLab:
    """A client key, a known_hosts file and any number of servers; `close()` stops them all."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.client_key = asyncssh.generate_private_key("ssh-ed25519")
        self.client_key_path = self.dir / "id_ed25519"
        self.client_key.write_private_key(str(self.client_key_path))
        self.client_key_path.chmod(0o600)
        self.client_key.write_public_key(str(self.client_key_path) + ".pub")
        self.known_hosts = self.dir / "known_hosts"
        self.known_hosts.write_text("")
        self.hosts: dict[str, SshHost] = {}
        self._servers: list[asyncssh.SSHAcceptor | asyncio.Server] = []
        self._stalled: list[asyncio.StreamWriter] = []
        self._procs: set[asyncio.subprocess.Process] = set()

    async def host(self, name: str, *, trust: Trust = "trusted", stall: bool = False, jump: bool = False,
                   accept_key: bool = True, address: str | None = None) -> SshHost:
        address = address or next_address()
        host = SshHost(name=name, address=address, port=free_port(address), root=self.dir / "hosts" / name,
                       trust=trust, stall=stall, jump=jump, accept_key=accept_key)
        host.root.mkdir(parents=True, exist_ok=True)
        self.hosts[name] = host
        if stall:
            self._servers.append(await asyncio.start_server(self._swallow(host), address, host.port))
            return host
        key = host.host_key = asyncssh.generate_private_key("ssh-ed25519")
        acceptor = await asyncssh.create_server(
            lambda: _Server(self, host), address, host.port, server_host_keys=[key],
            process_factory=lambda process: self._run(host, process), encoding=None,
            allow_scp=False, sftp_factory=None, agent_forwarding=False, x11_forwarding=False)
        self._servers.append(acceptor)
        if trust == "trusted":
            self._trust(host, key)
        elif trust == "changed":
            self._trust(host, asyncssh.generate_private_key("ssh-ed25519"))
        return host

    def _trust(self, host: SshHost, key: asyncssh.SSHKey) -> None:
        public = key.export_public_key("openssh").decode().strip()
        with self.known_hosts.open("a") as f:
            f.write(f"[{host.address}]:{host.port} {public}\n")

    def _swallow(self, host: SshHost) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            host.connections += 1
            self._stalled.append(writer)  # held open, never answered, closed at the end
        return accept

    async def _run(self, host: SshHost, process: asyncssh.SSHServerProcess) -> None:
        """Run the command with a real shell, like sshd does, and hand back its output and status."""
        command = process.command or ""
        host.commands.append(command)
        proc = await asyncio.create_subprocess_exec(
            "/bin/sh", "-c", command, cwd=host.root, env=SHELL_ENV, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, start_new_session=True)
        self._procs.add(proc)
        done = asyncio.ensure_future(proc.communicate())
        closed = asyncio.ensure_future(process.channel.wait_closed())
        try:
            await asyncio.wait({done, closed}, return_when=asyncio.FIRST_COMPLETED)
            if not done.done():  # the client went away (a command timeout): stop the command too
                _kill(proc)
                await done
                return
            out, err = done.result()
            process.stdout.write(out)
            process.stderr.write(err)
            process.exit(proc.returncode or 0)
        except (asyncssh.Error, BrokenPipeError, ConnectionError):
            _kill(proc)
        finally:
            closed.cancel()
            self._procs.discard(proc)

    async def close(self) -> None:
        for proc in list(self._procs):
            _kill(proc)
        for writer in self._stalled:
            writer.close()
        for server in self._servers:
            server.close()
        for server in self._servers:
            with contextlib.suppress(Exception):
                await server.wait_closed()
        self._servers.clear()


def _kill(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


async def _serve(directory: Path, count: int, log_lines: int) -> None:
    lab = SshLab(directory)
    line = ('10.0.0.{i} - - [18/Nov/2025:09:14:{s:02d} +0000] "GET /shop/cart?id={i} HTTP/1.1" {status} 512 '
            '"-" "Mozilla/5.0"\n')
    hosts = []
    for n in range(count):
        host = await lab.host(f"h{n:03d}")
        text = "".join(line.format(i=i % 250, s=i % 60, status=503 if i % 7 == 0 else 200) for i in range(log_lines))
        log = host.write("access.log", text)
        hosts.append({"name": host.name, "address": host.address, "port": host.port, "log": str(log)})
    print(json.dumps({"known_hosts": str(lab.known_hosts), "client_key": str(lab.client_key_path),
                      "hosts": hosts}), flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)  # serve until the parent closes our stdin
    await lab.close()


if __name__ == "__main__":
    asyncio.run(_serve(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 2000))
