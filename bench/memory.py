"""memory: peak RSS of `responder check` over 10,000 servers × 4 services (40,000 checks), a process.

The fleet listens on one port per server (4 paths, 5% of them answer 503), split over as many
processes as the open-file limit needs. Peak RSS comes from wait4 (the process's own ru_maxrss);
the baseline is the minimal aiohttp client (bench/baseline_client.py) over the same 40,000 URLs.
"""

from __future__ import annotations

import json

from bench.common import PY, RESPONDER, Row, Skip, free_port, responder_config, run_timed, workdir, write_yaml
from bench.fleet import FleetProcesses, address
from bench.probe import scenario, wrong_in_verdict

SERVICES, CONCURRENCY, TIMEOUT = 4, 500, 5.0


def run(quick: bool = False) -> list[Row]:
    servers = 1000 if quick else 10_000
    port = free_port()
    inventory, spec, truth = scenario(servers, [port], net=73, faults=(0.05, 0.0, 0.0), services=SERVICES)
    with workdir("memory") as tmp:
        cfg = responder_config(tmp, write_yaml(tmp / "inventory.yaml", inventory),
                               probe={"timeout": f"{TIMEOUT:g}s", "retries": 0, "concurrency": CONCURRENCY})
        urls = [f"http://{address(i, 73)}:{port}/svc{k}" for i in range(servers) for k in range(SERVICES)]
        (tmp / "urls.json").write_text(json.dumps(urls))
        cmd = [*RESPONDER, "check", "--json", "--config", str(cfg)]
        for k in range(SERVICES):
            cmd += ["--service", f"svc{k}"]
        with FleetProcesses(spec, tmp, processes=2):
            ours = run_timed(cmd)
            if ours.rc not in (0, 1):
                raise Skip(f"responder check exited {ours.rc}: {ours.stderr.strip()[-300:]}")
            wrong = wrong_in_verdict(json.loads(ours.stdout), truth)
            base = run_timed([PY, "-m", "bench.baseline_client", str(tmp / "urls.json"), str(CONCURRENCY),
                              str(TIMEOUT), str(tmp / "out.json")])
    checks = servers * SERVICES
    return [
        Row("memory", f"peak RSS, check of {checks:,} checks", ours.maxrss_mb, "MB", base.maxrss_mb, "<= 150",
            note="baseline: the minimal aiohttp client over the same URLs; ru_maxrss from wait4"),
        Row("memory", "wall of that check", ours.wall, "s", base.wall),
        Row("memory", "wrong verdicts (checks + clients)", wrong, "", None, "== 0"),
    ]
