"""Logs from 200 loopback SSH servers: the asyncssh collector against one `ssh` subprocess per server.

Both sides hit the same servers in the same run, with the same concurrency, the same remote command
and host keys verified the same way; the servers (asyncssh, each running the command with a real
/bin/sh) live in a separate process, so their cost is the same whichever client asks. Each side runs
ROUNDS times, alternating, and the median counts.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from bench.common import Row, Skip
from responder.config import Config, from_data
from responder.model import verdict as models
from workers.assess.evidence import gather, ssh


def _internals() -> Any:
    """The verdict models and the collector, as one namespace."""
    return type("Internals", (), {"Check": models.Check, "ClientVerdict": models.ClientVerdict,
                                  "ServiceVerdict": models.ServiceVerdict, "Fetch": ssh.Fetch,
                                  "collect_for_verdicts": gather.collect_for_verdicts,
                                  "remote_command": ssh.remote_command})

SERVERS = 200
LOG_LINES = 2000
ROUNDS = 3
TARGET = 0.6
ROOT = Path(__file__).resolve().parent.parent


def _config(lab: dict[str, Any]) -> Config:
    servers = {h["name"]: {"address": h["address"], "ssh": {"port": h["port"]}, "logs": [h["log"]]}
               for h in lab["hosts"]}
    inventory = {"services": {"shop": {"url": "http://{address}:8080/"}}, "servers": servers,
                 "clients": {"acme": {"servers": list(servers), "services": ["shop"]}}}
    ssh = {"username": "bench", "client_keys": [lab["client_key"]], "known_hosts": lab["known_hosts"],
           "agent": False}
    return from_data({"inventory": inventory, "ssh": ssh}, base=ROOT)


def _verdict(cfg: Config) -> Any:
    m = _internals()
    checks = [m.Check(server=s, url="http://x/", ok=False, error="HTTP 503") for s in cfg.inventory.servers]
    return m.ClientVerdict(client="acme", severity="critical", summary="shop down", services=[
        m.ServiceVerdict(service="shop", severity="critical", servers_total=len(checks),
                       servers_failing=len(checks), checks=checks)])


async def _with_collector(cfg: Config) -> int:
    [verdict] = await _internals().collect_for_verdicts(cfg, [_verdict(cfg)], [])
    failed = [x.error for x in verdict.logs if x.error]
    if failed:
        raise RuntimeError(f"collector: {len(failed)} servers failed, e.g. {failed[0]}")
    return sum(len(x.lines) for x in verdict.logs)


async def _with_ssh(cfg: Config, lab: dict[str, Any]) -> int:
    """What the old script did, made safe: `ssh` per server, keys checked, no prompts."""
    slots = asyncio.Semaphore(cfg.ssh.concurrency)

    async def one(host: dict[str, Any]) -> int:
        m = _internals()
        command = m.remote_command(m.Fetch(host["log"]), cfg.ssh.lines, cfg.ssh.max_bytes)
        async with slots:
            proc = await asyncio.create_subprocess_exec(
                "ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
                "-o", f"UserKnownHostsFile={lab['known_hosts']}", "-o", "GlobalKnownHostsFile=/dev/null",
                "-o", "IdentitiesOnly=yes", "-i", lab["client_key"], "-o", f"ConnectTimeout={cfg.ssh.timeout:g}",
                "-p", str(host["port"]), "-l", cfg.ssh.username or "bench", host["address"], command,
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            out, err = await proc.communicate()
        if proc.returncode:
            raise RuntimeError(f"ssh {host['name']}: exit {proc.returncode}: {err.decode(errors='replace')[:200]}")
        return len(out.decode("utf-8", "replace").splitlines())

    return sum(await asyncio.gather(*(one(h) for h in lab["hosts"])))


def _timed(make: Callable[[], Coroutine[Any, Any, int]]) -> tuple[float, float, int]:
    """Wall seconds, client CPU seconds (this process and its children), lines collected."""
    before = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    lines = asyncio.run(make())
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = sum(a.ru_utime + a.ru_stime - (b.ru_utime + b.ru_stime) for a, b in zip(after, before, strict=True))
    return wall, cpu, lines


def run(quick: bool = False) -> list[Row]:
    if not shutil.which("ssh"):
        raise Skip("no OpenSSH client (`ssh`) on this machine")
    _internals()
    servers, rounds = (20, 1) if quick else (SERVERS, ROUNDS)
    directory = Path(tempfile.mkdtemp(prefix="responder-bench-ssh-"))
    proc = subprocess.Popen([sys.executable, "-m", "tests.support.ssh_server", str(directory), str(servers),
                             str(LOG_LINES)], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        if not first:
            raise Skip("the SSH lab (tests.support.ssh_server) did not start: "
                       + (proc.stderr.read().decode(errors="replace").strip().splitlines() or ["?"])[-1][:150]
                       if proc.stderr else "?")
        lab = json.loads(first)
        cfg = _config(lab)
        ours: list[tuple[float, float, int]] = []
        theirs: list[tuple[float, float, int]] = []
        for _ in range(rounds):
            ours.append(_timed(lambda: _with_collector(cfg)))
            theirs.append(_timed(lambda: _with_ssh(cfg, lab)))
    finally:
        if proc.stdin:
            proc.stdin.close()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(directory, ignore_errors=True)
    a_wall, b_wall = statistics.median(r[0] for r in ours), statistics.median(r[0] for r in theirs)
    a_cpu, b_cpu = statistics.median(r[1] for r in ours), statistics.median(r[1] for r in theirs)
    return [
        Row("ssh_logs", f"collect logs from {servers} SSH servers", a_wall, "s", b_wall, f"<= {TARGET}x", on="ratio",
            note=f"baseline: one OpenSSH `ssh` per server, same servers, concurrency and command; median of "
                 f"{rounds}; lines {ours[0][2]} / {theirs[0][2]}"),
        Row("ssh_logs", "client CPU", a_cpu, "s", b_cpu),
    ]
