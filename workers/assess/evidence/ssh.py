"""SSH evidence: the log lines that say why a failing server fails.

One asyncssh connection per failing server, all in parallel but at most `ssh.concurrency` at a time,
each bounded by its own connect and command timeouts, so one dead host never holds up the rest. Host
keys are checked against `ssh.known_hosts`; an unknown or changed key is refused before anything runs
(the old script's `StrictHostKeyChecking=no` let anyone in the path answer for a server).

The remote command is built only from inventory values (log paths, virtual hosts), each one quoted
with `shlex.quote`; nothing from an alert reaches it. Output is bounded on the server (`tail -c`) and
again here, and every failure comes back as a short per-server message that lands in the verdict.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncssh

from responder.config import Config, SshConfig
from responder.inventory import Server
from workers.assess.evidence import lines as loglines

log = logging.getLogger(__name__)

SCAN_FACTOR = 20  # lines read per line wanted when the lines are narrowed afterwards
STDERR_LIMIT = 4096
CHUNK = 64 * 1024
# asyncssh's own ciphers, AES-GCM first: one C call per packet, where its ChaCha20-Poly1305 builds
# several cipher objects in Python for each packet (a third of the client's CPU over 200 servers)
CIPHERS = ["aes128-gcm@openssh.com", "aes256-gcm@openssh.com", "chacha20-poly1305@openssh.com",
           "aes256-ctr", "aes192-ctr", "aes128-ctr"]
INSECURE_NOTE = "host key NOT verified (servers.{server}.ssh.insecure_skip_host_key_check is set)"


@dataclass(frozen=True, slots=True)
class Fetch:
    """One remote command: a log on a server, narrowed remotely to lines holding any of `terms`.
    `wide`: a local filter follows, so read more lines than will be kept."""

    path: str
    terms: tuple[str, ...] = ()
    wide: bool = False


@dataclass(slots=True)
class Output:
    lines: list[str] = field(default_factory=list)
    truncated: bool = False
    error: str | None = None


@dataclass(slots=True)
class HostEvidence:
    """What one server gave: an error that stopped everything, or one Output per Fetch."""

    server: str
    error: str | None = None
    note: str | None = None
    outputs: dict[Fetch, Output] = field(default_factory=dict)


class _Refused(Exception):
    """A reason not to connect at all (unreadable known_hosts, unusable keys, a failed jump host)."""


def remote_command(fetch: Fetch, lines: int, max_bytes: int) -> str:
    """The shell command for one Fetch: every value quoted, bounded in lines and bytes.

    A log that cannot be read makes `tail` fail on its own, with its message and status (inside the
    pipeline its status would be lost); `[ -r ]` is a shell builtin, so a readable log costs nothing more.
    """
    path = shlex.quote(fetch.path)
    terms = [t for t in fetch.terms if t]
    scan = lines * SCAN_FACTOR if (terms or fetch.wide) else lines
    keep = scan if fetch.wide else lines
    stages = [f"tail -n {int(scan)} -- {path}"]
    if terms:
        stages.append("grep -a -F " + " ".join(f"-e {shlex.quote(t)}" for t in terms))
    if keep != scan:
        stages.append(f"tail -n {int(keep)}")
    stages.append(f"tail -c {int(max_bytes)}")
    return f"[ -r {path} ] || {{ tail -n 1 -- {path} >/dev/null; exit; }}; " + " | ".join(stages)


def parse_jump_host(text: str) -> tuple[str | None, str, int]:
    """`user@host:port`, `host:port`, `user@host`, `[2001:db8::1]:22` -> (user, host, port)."""
    user, _, rest = text.strip().rpartition("@")
    port = 22
    if rest.startswith("["):
        host, _, tail = rest[1:].partition("]")
        if tail.startswith(":") and tail[1:].isdigit():
            port = int(tail[1:])
    elif rest.count(":") == 1:
        host, _, p = rest.partition(":")
        if not p.isdigit():
            raise ValueError(f"ssh.jump_host: bad port in {text!r}")
        port = int(p)
    else:
        host = rest
    if not host:
        raise ValueError(f"ssh.jump_host: no host in {text!r}")
    return user or None, host, port


def _first_line(data: bytes) -> str:
    for line in loglines.decode(data, cut=False):
        if line.strip():
            return line.strip()
    return ""


async def _read(stream: asyncssh.SSHReader[bytes], limit: int, *, drain: bool) -> tuple[bytes, bool]:
    """Up to `limit` bytes, and whether there was more. `drain`: read on to the end and drop the rest
    (stderr, so the command never blocks on it); otherwise stop as soon as the limit is passed."""
    chunks: list[bytes] = []
    size = 0
    while chunk := await stream.read(CHUNK):
        if size < limit:
            chunks.append(chunk[: limit - size])
        size += len(chunk)
        if size > limit and not drain:
            break
    return b"".join(chunks), size > limit


class Collector:
    """One collection run: credentials and known_hosts loaded once, a jump host connected once."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.ssh: SshConfig = config.ssh
        self.slots = asyncio.Semaphore(self.ssh.concurrency)
        self._known: dict[str, asyncssh.SSHKnownHosts | str] = {}
        self._keys: Sequence[asyncssh.SSHKeyPair] | str | None = None
        self._jump: asyncssh.SSHClientConnection | str | None = None
        self._jump_lock = asyncio.Lock()

    async def __aenter__(self) -> Collector:
        return self

    async def __aexit__(self, *exc: object) -> None:
        if isinstance(self._jump, asyncssh.SSHClientConnection):
            await _close(self._jump, self.ssh.timeout)

    # -- credentials ----------------------------------------------------------------------------

    def _known_hosts_path(self, server: Server | None) -> str | None:
        path = server.ssh.known_hosts if server and server.ssh.known_hosts else self.ssh.known_hosts
        if not path:
            return None
        path = os.path.expanduser(path)
        if not os.path.isabs(path) and self.config.source_path:
            path = str(Path(self.config.source_path).resolve().parent / path)
        return path

    def _known_hosts(self, path: str | None) -> asyncssh.SSHKnownHosts:
        if path is None:
            raise _Refused("host key not trusted: no ssh.known_hosts is configured")
        if path not in self._known:
            try:
                self._known[path] = asyncssh.read_known_hosts(path)
            except (OSError, ValueError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
                self._known[path] = f"host key not trusted: cannot read known_hosts {path} ({reason})"
        found = self._known[path]
        if isinstance(found, str):
            raise _Refused(found)
        return found

    def _client_keys(self) -> Sequence[asyncssh.SSHKeyPair] | None:
        """The configured keys, loaded once; None means asyncssh's defaults (~/.ssh/id_*)."""
        if not self.ssh.client_keys:
            return None
        if self._keys is None:
            try:
                self._keys = asyncssh.load_keypairs([os.path.expanduser(k) for k in self.ssh.client_keys])
            except (OSError, ValueError, asyncssh.KeyImportError) as exc:
                if isinstance(exc, OSError) and exc.strerror:
                    reason = f"{exc.filename}: {exc.strerror}" if exc.filename else exc.strerror
                else:
                    reason = str(exc)
                self._keys = f"cannot load ssh.client_keys: {reason}"
        if isinstance(self._keys, str):
            raise _Refused(self._keys)
        return self._keys

    def _options(self, username: str | None, known_hosts: asyncssh.SSHKnownHosts | None) -> dict[str, Any]:
        keys = self._client_keys()
        options: dict[str, Any] = {
            "known_hosts": known_hosts,
            "agent_path": () if self.ssh.agent else None,
            "config": None,  # responder.yaml is the whole story: no ~/.ssh/config surprises
            "agent_forwarding": False,
            "encryption_algs": CIPHERS,
        }
        if keys is not None:
            options["client_keys"] = keys
        if username:
            options["username"] = username
        return options

    # -- connecting -----------------------------------------------------------------------------

    async def _jump_host(self) -> asyncssh.SSHClientConnection | None:
        if not self.ssh.jump_host:
            return None
        async with self._jump_lock:
            if self._jump is None:
                self._jump = await self._connect_jump(self.ssh.jump_host)
            if isinstance(self._jump, str):
                raise _Refused(self._jump)
            return self._jump

    async def _connect_jump(self, spec: str) -> asyncssh.SSHClientConnection | str:
        """The bastion every server is reached through, or why it cannot be (then nothing is tried)."""
        try:
            user, host, port = parse_jump_host(spec)
        except ValueError as exc:
            return str(exc)
        known: asyncssh.SSHKnownHosts | None = None
        path = self._known_hosts_path(None)
        try:
            known = self._known_hosts(path)
            return await self._open(host, port, self._options(user or self.ssh.username, known))
        except _Refused as exc:
            return f"jump host {spec}: {exc}"
        except Exception as exc:
            return f"jump host {spec}: {self.describe(exc, host, port, known, path)}"

    async def _open(self, host: str, port: int, options: dict[str, Any],
                    tunnel: asyncssh.SSHClientConnection | None = None) -> asyncssh.SSHClientConnection:
        async with asyncio.timeout(self.ssh.timeout):
            return await asyncssh.connect(host, port, tunnel=tunnel or (), **options)

    def describe(self, exc: BaseException, host: str, port: int = 22,
                 known_hosts: asyncssh.SSHKnownHosts | None = None, known_path: str | None = None) -> str:
        """A short, readable reason for a failed connection."""
        if isinstance(exc, TimeoutError):
            return f"timed out connecting after {self.ssh.timeout:g}s"
        if isinstance(exc, asyncssh.HostKeyNotVerifiable):
            where = f" {known_path}" if known_path else ""
            if known_hosts is not None and known_hosts.match(host, host, port)[0]:
                return (f"host key not trusted: {host}:{port} offered a key other than the one in "
                        f"known_hosts{where} (changed, or someone in the middle)")
            return f"host key not trusted: {host}:{port} is not in known_hosts{where}"
        if isinstance(exc, asyncssh.PermissionDenied):
            return "authentication failed"
        if isinstance(exc, ConnectionRefusedError):
            return "connection refused"
        if isinstance(exc, asyncssh.ChannelOpenError):
            return f"the jump host could not reach it: {exc.reason}"
        if isinstance(exc, asyncssh.DisconnectError):
            return f"disconnected: {exc.reason}"
        if isinstance(exc, OSError):
            return f"cannot connect: {exc.strerror or exc}"
        if isinstance(exc, asyncssh.Error):
            return exc.reason
        return f"{type(exc).__name__}: {exc}"

    async def host(self, name: str, fetches: Iterable[Fetch]) -> HostEvidence:
        """Connect to one server once and run every Fetch on it, one after the other."""
        server = self.config.inventory.servers[name]
        evidence = HostEvidence(server=name)
        address = server.ssh.host or server.address
        port = server.ssh.port
        async with self.slots:
            known: asyncssh.SSHKnownHosts | None = None
            known_path = self._known_hosts_path(server)
            try:
                if server.ssh.insecure_skip_host_key_check:
                    log.warning("SSH host key check SKIPPED for server %s (%s:%d): "
                                "servers.%s.ssh.insecure_skip_host_key_check is set; anyone between here and "
                                "there can answer for it. Use this in a lab only.", name, address, port, name)
                    evidence.note = INSECURE_NOTE.format(server=name)
                else:
                    known = self._known_hosts(known_path)
                options = self._options(server.ssh.username or self.ssh.username, known)
                tunnel = await self._jump_host()
                conn = await self._open(address, port, options, tunnel)
            except _Refused as exc:
                evidence.error = str(exc)
                return evidence
            except Exception as exc:
                evidence.error = self.describe(exc, address, port, known, known_path)
                log.info("no logs from %s: %s", name, evidence.error)
                return evidence
            try:
                for fetch in fetches:
                    evidence.outputs[fetch] = await self.run(conn, fetch)
            finally:
                await _close(conn, self.ssh.timeout)
        return evidence

    async def run(self, conn: asyncssh.SSHClientConnection, fetch: Fetch) -> Output:
        """One command, bounded in time and output."""
        command = remote_command(fetch, self.ssh.lines, self.ssh.max_bytes)
        limit = self.ssh.max_bytes
        process: asyncssh.SSHClientProcess[bytes] | None = None

        async def stdout(process: asyncssh.SSHClientProcess[bytes]) -> tuple[bytes, bool]:
            data, more = await _read(process.stdout, limit, drain=False)
            if more:  # a server ignoring `tail -c`: stop it here
                process.close()
            return data, more

        try:
            async with asyncio.timeout(self.ssh.command_timeout):
                process = await conn.create_process(command, encoding=None, stdin=asyncssh.DEVNULL)
                (out, more), (err, _) = await asyncio.gather(stdout(process),
                                                             _read(process.stderr, STDERR_LIMIT, drain=True))
                await process.wait_closed()
        except TimeoutError:
            return Output(error=f"command timed out after {self.ssh.command_timeout:g}s")
        except asyncssh.ChannelOpenError as exc:
            return Output(error=f"cannot start a command: {exc.reason}")
        except (asyncssh.Error, OSError) as exc:
            return Output(error=f"the command failed: {getattr(exc, 'reason', None) or exc}")
        finally:
            if process is not None:
                process.close()
        cut = more or len(out) >= limit
        output = Output(lines=loglines.decode(out, cut), truncated=cut)
        status = None if more else process.returncode  # when we stopped it, its status says nothing
        first = _first_line(err)
        if status:
            why = f"exit status {status}" if status > 0 else f"killed by signal {-status}"
            output.error = f"{why}: {first}" if first else why
        elif first and not output.lines:  # e.g. a directory: readable, but tail fails inside the pipeline
            output.error = first
        return output


async def _close(conn: asyncssh.SSHClientConnection, timeout: float) -> None:
    conn.close()
    with contextlib.suppress(TimeoutError, asyncssh.Error, OSError):
        async with asyncio.timeout(timeout):
            await conn.wait_closed()


async def collect(config: Config, wanted: Mapping[str, Iterable[Fetch]]) -> dict[str, HostEvidence]:
    """Run the Fetches of every server in parallel (bounded by ssh.concurrency)."""
    if not wanted:
        return {}
    async with Collector(config) as collector:
        names = list(wanted)
        found = await asyncio.gather(*(collector.host(n, list(dict.fromkeys(wanted[n]))) for n in names))
    return dict(zip(names, found, strict=True))
