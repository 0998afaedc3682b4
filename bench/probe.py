"""probe: `responder check` as a process against the minimal correct aiohttp client as a process.

2,000 servers × 4 services (each service on its own port), 5% of checks answer 503, 3% accept and
never answer, 2% refuse the connection (nothing listens); timeout 2 s, no retries, concurrency 500.
Both sides probe the same URLs on the same fleet (its own process) in alternating rounds; the
median round counts. Wrong verdicts: checks whose outcome, or clients whose severity, differ from
the scenario's truth.
"""

from __future__ import annotations

import json
import random
import statistics
from typing import Any

from bench.common import Row, check_against_baseline, free_port, run_check, run_timed, workdir
from bench.fleet import FleetProcesses, address

SERVICES, CONCURRENCY, TIMEOUT, SEED = 4, 500, 2.0, 20261201


def scenario(servers: int, ports: list[int], net: int, faults: tuple[float, float, float] = (0.05, 0.03, 0.02),
             services: int = SERVICES, seed: int = SEED,
             ) -> tuple[dict[str, Any], dict[str, Any], dict[tuple[str, str], str]]:
    """(inventory, fleet spec, truth per (server, service): "ok", "503", "timeout" or "refused").

    Service k listens on ports[k % len(ports)] at /svc{k}; refusing needs a port of its own."""
    assert len(ports) == services or not faults[2], "a refused check needs its service on its own port"
    rng = random.Random(seed)
    bad503, hang, refuse = faults
    truth: dict[tuple[str, str], str] = {}
    spec: dict[str, Any] = {"listeners": [], "status": {}, "hang": []}
    inv_servers: dict[str, Any] = {}
    for i in range(servers):
        name, addr = f"s{i:05d}", address(i, net)
        inv_servers[name] = {"address": addr}
        listening = set()
        for k in range(services):
            port = ports[k % len(ports)]
            r = rng.random()
            kind = "503" if r < bad503 else "timeout" if r < bad503 + hang else \
                "refused" if r < bad503 + hang + refuse else "ok"
            truth[(name, f"svc{k}")] = kind
            if kind == "refused":
                continue
            if port not in listening:
                listening.add(port)
                spec["listeners"].append([addr, port])
            if kind == "503":
                spec["status"][f"{addr}:{port}/svc{k}"] = 503
            elif kind == "timeout":
                spec["hang"].append(f"{addr}:{port}/svc{k}")
    inventory = {
        "services": {f"svc{k}": {"url": f"http://{{address}}:{ports[k % len(ports)]}/svc{k}"} for k in range(services)},
        "servers": inv_servers,
        "clients": {f"c{i:05d}": {"servers": [f"s{i:05d}"], "services": [f"svc{k}" for k in range(services)]}
                    for i in range(servers)},
    }
    return inventory, spec, truth


def outcome(check: dict[str, Any]) -> str:
    if check.get("ok"):
        return "ok"
    error = str(check.get("error") or "")
    if check.get("status") == 503 or error == "HTTP 503":
        return "503"
    if "no answer" in error:
        return "timeout"
    if "refused" in error:
        return "refused"
    return f"other: {error}"


def wrong_in_verdict(verdict: dict[str, Any], truth: dict[tuple[str, str], str]) -> int:
    """Checks that disagree with the truth (missing ones count), plus clients with the wrong severity."""
    seen: dict[tuple[str, str], str] = {}
    wrong = 0
    for client in verdict.get("clients", []):
        worst = "ok"
        for service in client.get("services", []):
            for check in service.get("checks", []):
                seen[(check["server"], service["service"])] = outcome(check)
                if truth.get((check["server"], service["service"])) != "ok":
                    worst = "critical"  # one server per client here: a failing check fails the service
        wrong += client.get("severity") != worst
    wrong += sum(seen.get(key) != kind for key, kind in truth.items())
    return wrong


def run(quick: bool = False) -> list[Row]:
    servers, rounds = (200, 1) if quick else (2000, 3)
    ports = [free_port() for _ in range(SERVICES)]
    inventory, spec, truth = scenario(servers, ports, net=71)
    urls = [f"http://{address(i, 71)}:{ports[k]}/svc{k}" for i in range(servers) for k in range(SERVICES)]
    with workdir("probe") as tmp:
        check, baseline = check_against_baseline(tmp, inventory, urls, SERVICES, TIMEOUT, CONCURRENCY)
        ours, theirs = [], []
        wrong_ours, wrong_theirs = 0, 0
        with FleetProcesses(spec, tmp):
            for _ in range(rounds):
                done = run_check(check)
                wrong_ours = max(wrong_ours, wrong_in_verdict(json.loads(done.stdout), truth))
                ours.append(done)
                base = run_timed(baseline)
                if base.rc:
                    raise RuntimeError(f"baseline client failed: {base.stderr[-300:]}")
                got = json.loads((tmp / "out.json").read_text())
                want = [truth[(f"s{i:05d}", f"svc{k}")] for i in range(servers) for k in range(SERVICES)]
                wrong_theirs = max(wrong_theirs, sum(str(g if g != 200 else "ok") != w
                                                     for g, w in zip(got, want, strict=True)))
                theirs.append(base)
    wall = statistics.median(r.wall for r in ours)
    base_wall = statistics.median(r.wall for r in theirs)
    scale = f"{servers:,} servers × {SERVICES} services"
    return [
        Row("probe", f"wall, {scale} (process)", wall, "s", base_wall, "<= 1.1x", on="ratio",
            note=f"median of {rounds}; baseline: bench/baseline_client.py"),
        Row("probe", "CPU time of the process", statistics.median(r.cpu for r in ours), "s",
            statistics.median(r.cpu for r in theirs)),
        Row("probe", "wrong verdicts (checks + clients)", wrong_ours, "", wrong_theirs, "== 0",
            note="baseline column: the baseline client's wrong outcomes"),
    ]
