"""outage: a storm of Alertmanager webhooks into `responder serve --workers N`, until every verdict is in.

The scenario (seed fixed): 4,000 servers, 5,000 clients each on 2–4 of them, 2 services per client
(both on every server, each on its own port: 4,000 × 2 listeners on 127.74.y.z, split over as many
fleet processes as the open-file limit needs). The first 1,000 servers stop answering: the first
half refuse connections (nothing listens), the second half accept and never answer. The storm: 10
webhooks of 100 alerts (instance=<server>:9100), one per dead server, posted back to back.

`serve` runs with the default settings (group_wait, probe timeout and retries, the embedded Redis)
and a fresh state_dir for each worker count. The bench polls GET /api/incidents and
/api/incidents/{id} once a second until every touched client has a verdict (status assessed or
resolved, assessed_at set), or the run's timeout passes.

Figures per worker count: seconds from the first webhook to the last verdict stored (its
assessed_at), wrong verdicts (critical iff all the client's servers are dead, degraded iff some),
each worker's share of the checks (`progress.by_worker` on the incident, "n/a" while absent), how
often the fleet saw each distinct request (address, port, path, Host), and peak RSS of the serve
process tree (serve, its workers, their RQ scheduler and work horses, the embedded redis-server;
/proc every 0.2 s). RSS counts a page shared by forked processes once in each of them, so the peak
PSS sum of the same tree (each shared page divided among its sharers, from smaps_rollup) is shown
next to it: the memory the tree really costs the machine. The target stays on RSS.

Baseline for the time: group_wait plus the minimal aiohttp client process probing each distinct
URL of the touched clients once (default timeout and concurrency, one attempt), on the same fleet
in the same invocation: roughly what an assessment that probes every URL once costs.
"""

from __future__ import annotations

import json
import os
import random
import time
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.common import (
    PY,
    Row,
    TreeRss,
    free_port,
    get_json,
    responder_config,
    run_timed,
    serve,
    stop_tree,
    wait_http,
    workdir,
    write_yaml,
)
from bench.fleet import FleetProcesses, address

NET, SEED = 74, 20261203
GROUP_WAIT, TIMEOUT, RETRIES = 10.0, 5.0, 1  # Responder's defaults (README)
CONCURRENCY = 200  # the baseline client's slots (0.1's default; Responder now defaults to 2000)


def pss_mb(pids: list[int]) -> float:
    """The sum of the processes' proportional set sizes (a shared page counts 1/n in each of n)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
                        break
        except (OSError, IndexError, ValueError):
            continue
    return total / 1024


# the PSS figure needs /proc/PID/smaps_rollup (Linux 4.14)
HAS_PSS = os.path.exists(f"/proc/{os.getpid()}/smaps_rollup")


class Scenario:
    def __init__(self, quick: bool, seed: int = SEED) -> None:
        scale = 10 if quick else 1
        self.servers, self.clients, self.dead = 4000 // scale, 5000 // scale, 1000 // scale
        self.webhooks, self.per_webhook = 10, 100 // scale
        self.ports = [free_port(), free_port()]
        rng = random.Random(seed)
        self.names = [f"web-{i:05d}" for i in range(self.servers)]
        self.client_servers = {f"c{c:05d}": sorted(rng.sample(range(self.servers), rng.randint(2, 4)))
                               for c in range(self.clients)}

    def inventory(self) -> dict[str, Any]:
        return {
            "services": {f"svc{k}": {"url": f"http://{{address}}:{p}/svc{k}"} for k, p in enumerate(self.ports)},
            "servers": {n: {"address": address(i, NET)} for i, n in enumerate(self.names)},
            "clients": {c: {"servers": [self.names[i] for i in s], "services": ["svc0", "svc1"]}
                        for c, s in self.client_servers.items()},
        }

    def fleet_spec(self) -> dict[str, Any]:
        refusing = self.dead // 2
        listeners = [[address(i, NET), p] for i in range(refusing, self.servers) for p in self.ports]
        hang = [f"{address(i, NET)}:{p}" for i in range(refusing, self.dead) for p in self.ports]
        return {"listeners": listeners, "hang": hang}

    def truth(self) -> dict[str, str]:
        out = {}
        for c, servers in self.client_servers.items():
            dead = sum(i < self.dead for i in servers)
            if dead:
                out[c] = "critical" if dead == len(servers) else "degraded"
        return out

    def touched_urls(self) -> list[str]:
        servers = sorted({i for c in self.truth() for i in self.client_servers[c]})
        return [f"http://{address(i, NET)}:{p}/svc{k}" for i in servers for k, p in enumerate(self.ports)]

    def storm(self) -> list[bytes]:
        bodies = []
        for w in range(self.webhooks):
            alerts = []
            for k in range(self.per_webhook):
                name = self.names[w * self.per_webhook + k]
                alerts.append({"status": "firing",
                               "labels": {"alertname": "InstanceDown", "instance": f"{name}:9100", "job": "node",
                                          "severity": "critical"},
                               "annotations": {"summary": f"Instance {name}:9100 down"},
                               "startsAt": "2026-12-01T10:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
                               "fingerprint": f"{w:04x}{k:08x}"})
            bodies.append(json.dumps({"version": "4", "receiver": "responder", "status": "firing",
                                      "groupKey": f"storm-{w}", "alerts": alerts}).encode())
        return bodies


def _time(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def collect(base: str, seen: dict[str, dict[str, Any]]) -> None:
    """Refresh `seen` (incident id -> its JSON) with every assessed incident."""
    listing = get_json(f"{base}/api/incidents?limit=1000")
    for item in listing.get("incidents", []):
        if item.get("status") in ("assessed", "resolved") and item.get("assessed_at"):
            old = seen.get(item["id"])
            if old is None or old.get("assessed_at") != item["assessed_at"]:
                seen[item["id"]] = get_json(f"{base}/api/incidents/{item['id']}")


def verdicts(seen: dict[str, dict[str, Any]]) -> dict[str, tuple[float, str]]:
    """client -> (assessed_at, severity) from the latest assessment that names it."""
    out: dict[str, tuple[float, str]] = {}
    for incident in seen.values():
        at = _time(incident.get("assessed_at")) or 0.0
        for client in incident.get("clients", []):
            name = client.get("client")
            if name and (name not in out or out[name][0] <= at):
                out[name] = (at, client.get("severity", "?"))
    return out


def wrong_examples(seen: dict[str, dict[str, Any]], got: dict[str, tuple[float, str]],
                   truth: dict[str, str], most: int = 3) -> list[str]:
    """A few wrong verdicts with what their checks said, to read why."""
    out: list[str] = []
    for incident in seen.values():
        for client in incident.get("clients", []):
            name = client.get("client")
            if name in truth and got.get(name, (0, None))[1] != truth[name] and len(out) < most:
                checks = [f"{c.get('server')} {c.get('error') or c.get('status')}"
                          for s in client.get("services", []) for c in s.get("checks", [])]
                out.append(f"{name}: expected {truth[name]}, got {client.get('severity')} ({'; '.join(checks)})")
    return out


def shares(seen: dict[str, dict[str, Any]]) -> str:
    by_worker: dict[str, float] = {}
    found = False
    for incident in seen.values():
        got = (incident.get("progress") or {}).get("by_worker")
        if isinstance(got, dict):
            found = True
            for worker, checks in got.items():
                by_worker[worker] = by_worker.get(worker, 0) + float(checks)
    total = sum(by_worker.values())
    if not found or not total:
        return "n/a"
    return " · ".join(f"{w} {v / total:.0%}" for w, v in sorted(by_worker.items()))


def one_run(s: Scenario, fleet: FleetProcesses, directory: Path, workers: int, timeout: float) -> dict[str, Any]:
    directory.mkdir()
    inventory = directory.parent / "inventory.yaml"
    port = free_port()
    cfg = responder_config(directory, inventory, listen=f"127.0.0.1:{port}")
    base = f"http://127.0.0.1:{port}"
    truth = s.truth()
    proc = serve(cfg, workers, log=directory / "serve.log")
    result: dict[str, Any] = {"workers": workers}
    try:
        wait_http(f"{base}/readyz", proc=proc)
        time.sleep(1.0)  # let the workers register before the storm
        fleet.reset()
        seen: dict[str, dict[str, Any]] = {}
        with TreeRss(proc.pid) as rss, TreeRss(proc.pid, measure=pss_mb, available=HAS_PSS) as pss:
            started = time.time()
            for body in s.storm():
                req = urllib.request.Request(f"{base}/hooks/alertmanager", data=body, method="POST",
                                             headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(req, timeout=60) as r:
                    if r.status != 202:
                        raise RuntimeError(f"webhook answered {r.status}")
            deadline = started + timeout
            done = False
            while time.time() < deadline:
                time.sleep(1.0)
                collect(base, seen)
                got = verdicts(seen)
                if all(c in got for c in truth):
                    done = True
                    break
                if proc.poll() is not None:
                    raise RuntimeError(f"serve exited with {proc.returncode}; see {directory / 'serve.log'}")
            got = verdicts(seen)
            stats = fleet.stats()
        result["peak_rss"] = rss.peak
        result["peak_pss"] = pss.peak or None
        result["rss_by_process"] = rss.breakdown()
        result["verdicts"] = sum(c in got for c in truth)
        result["clients"] = len(truth)
        result["wrong"] = sum(got.get(c, (0, None))[1] != sev for c, sev in truth.items()) + \
            sum(c not in truth for c in got)
        result["wrong_examples"] = wrong_examples(seen, got, truth)
        last = max((got[c][0] for c in truth if c in got), default=None)
        result["seconds"] = (last - started) if done and last else None
        result["shares"] = shares(seen)
        result["max_requests"], result["mean_requests"] = stats["max"], stats["mean"]
        result["requests"] = stats["requests"]
    finally:
        stop_tree(proc, timeout=30)
    return result


def rows_for(r: dict[str, Any], ideal: float, timeout: float) -> list[Row]:
    w = r["workers"]
    name = f"workers {w}: first webhook to last verdict"
    target = "<= 30" if w == 2 else ""
    if r["seconds"] is None:
        value: float | str = f"timeout ({timeout:g} s): {r['verdicts']:,} of {r['clients']:,} verdicts"
    else:
        value = r["seconds"]
    return [
        Row("outage", name, value, "s", ideal, target,
            note=f"{r['clients']:,} clients touched" if w == 2 else ""),
        Row("outage", f"workers {w}: wrong verdicts", r["wrong"] if r["seconds"] is not None else
            f"{r['wrong']} (of {r['verdicts']:,} so far)", "", None, "== 0",
            note=" | ".join(r.get("wrong_examples", []))),
        Row("outage", f"workers {w}: checks by worker", r["shares"]),
        Row("outage", f"workers {w}: max requests per distinct URL", r["max_requests"], "", None,
            f"<= {RETRIES + 1}", note=f"workers {w}: mean {r['mean_requests']:.2f} per distinct request, "
                                      f"{r['requests']:,} requests in all"),
        Row("outage", f"workers {w}: peak RSS, serve tree", r["peak_rss"], "MB", None, "<= 300",
            note=f"at the peak: {r['rss_by_process']}"),
        Row("outage", f"workers {w}: peak PSS, serve tree", r["peak_pss"] if r["peak_pss"] else "n/a", "MB",
            note="" if w != 2 else "PSS: pages shared by forked processes divided among them (RSS counts "
                                   "them in each); the target is on RSS"),
    ]


def run(quick: bool = False, workers: list[int] | None = None, timeout: float = 400.0) -> list[Row]:
    counts = workers or [1, 2, 4]
    s = Scenario(quick)
    results = []
    with workdir("outage") as tmp:
        write_yaml(tmp / "inventory.yaml", s.inventory())
        with FleetProcesses(s.fleet_spec(), tmp) as fleet:
            urls = s.touched_urls()
            (tmp / "urls.json").write_text(json.dumps(urls))
            probe = run_timed([PY, "-m", "bench.baseline_client", str(tmp / "urls.json"), str(CONCURRENCY),
                               str(TIMEOUT), str(tmp / "out.json")])
            ideal = GROUP_WAIT + probe.wall
            for n in counts:
                results.append(one_run(s, fleet, tmp / f"workers-{n}", n, timeout))
    rows: list[Row] = []
    for r in results:
        rows += rows_for(r, ideal, timeout)
    by = {r["workers"]: r for r in results}
    if 1 in by and 4 in by:
        w1, w4 = by[1]["seconds"], by[4]["seconds"]
        rows.append(Row("outage", "workers 4 against workers 1", w4 if w4 is not None else "timeout", "s",
                        w1 if w1 is not None else "timeout", "<= 0.7x", on="ratio"))
    ideal_note = (f"baseline: group_wait {GROUP_WAIT:g} s + the minimal client probing the {len(urls):,} "
                  f"distinct URLs of the touched clients once ({probe.wall:.1f} s)")
    rows[0].note = f"{rows[0].note}; {ideal_note}" if rows[0].note else ideal_note
    return rows
