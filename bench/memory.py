"""memory: peak RSS of `responder check` over 10,000 servers × 4 services (40,000 checks), a process.

The fleet listens on one port per server (4 paths, 5% of them answer 503), split over as many
processes as the open-file limit needs. Peak RSS comes from wait4 (the process's own ru_maxrss);
the baseline is the minimal aiohttp client (bench/baseline_client.py) over the same 40,000 URLs.
"""

from __future__ import annotations

import json

from bench.common import Row, check_against_baseline, free_port, run_check, run_timed, workdir
from bench.fleet import FleetProcesses, address
from bench.probe import scenario, wrong_in_verdict

SERVICES, CONCURRENCY, TIMEOUT = 4, 500, 5.0


def run(quick: bool = False) -> list[Row]:
    servers = 1000 if quick else 10_000
    port = free_port()
    inventory, spec, truth = scenario(servers, [port], net=73, faults=(0.05, 0.0, 0.0), services=SERVICES)
    urls = [f"http://{address(i, 73)}:{port}/svc{k}" for i in range(servers) for k in range(SERVICES)]
    with workdir("memory") as tmp:
        check, baseline = check_against_baseline(tmp, inventory, urls, SERVICES, TIMEOUT, CONCURRENCY)
        with FleetProcesses(spec, tmp, processes=2):
            ours = run_check(check)
            wrong = wrong_in_verdict(json.loads(ours.stdout), truth)
            base = run_timed(baseline)
    checks = servers * SERVICES
    return [
        Row("memory", f"peak RSS, check of {checks:,} checks", ours.maxrss_mb, "MB", base.maxrss_mb, "<= 150",
            note="baseline: the minimal aiohttp client over the same URLs; ru_maxrss from wait4"),
        Row("memory", "wall of that check", ours.wall, "s", base.wall),
        Row("memory", "wrong verdicts (checks + clients)", wrong, "", None, "== 0"),
    ]
