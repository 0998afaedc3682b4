"""plan / impact: `responder plan --service S --json` and `responder impact HOST... --json` as processes
on the 10,000-server, 5,000-client inventory. Both read the inventory only (no probes).

Wall time of each process against the same command's `--help` (python startup, the CLI and that
command's imports; the top-level `responder --help` imports every command group and takes longer than
`impact` itself): `plan` is judged on its whole wall time, `impact` of 100 servers on its wall time
minus that startup. Skipped while the commands are not implemented (exit 2, "No such command").
"""

from __future__ import annotations

import json

from bench.common import RESPONDER, Row, Skip, run_timed, workdir
from bench.inventory import write_big


def _missing(stderr: str) -> bool:
    return "No such command" in stderr or "no such command" in stderr.lower()


def run(quick: bool = False) -> list[Row]:
    for command in ("plan", "impact"):
        probe = run_timed([*RESPONDER, command, "--help"])
        if probe.rc == 2 and _missing(probe.stderr + probe.stdout):
            raise Skip(f"not implemented yet (`responder {command}`: No such command)")
    rows: list[Row] = []
    with workdir("plan") as tmp:
        cfg, _, data = write_big(tmp, quick)
        startup = {c: min(run_timed([*RESPONDER, c, "--help"]).wall for _ in range(2)) for c in ("plan", "impact")}
        plan = run_timed([*RESPONDER, "plan", "--service", "svc0", "--json", "--config", str(cfg)])
        if plan.rc not in (0, 1) or _missing(plan.stderr):
            rows.append(Row("plan", "plan --service", f"failed: exit {plan.rc}: {plan.stderr.strip()[-150:]}"))
        else:
            out = json.loads(plan.stdout)
            rows.append(Row("plan", f"plan --service svc0 ({len(data['servers']):,} servers)", plan.wall, "s",
                            startup["plan"], "<= 2", note=f"{len(out.get('batches', []))} batches, "
                                                          f"{len(out.get('blocked', []))} blocked; baseline: "
                                                          "responder plan --help"))
        hosts = list(data["servers"])[:100]
        impact = run_timed([*RESPONDER, "impact", *hosts, "--json", "--config", str(cfg)])
        if impact.rc not in (0, 1) or _missing(impact.stderr):
            rows.append(Row("plan", "impact", f"failed: exit {impact.rc}: {impact.stderr.strip()[-150:]}"))
        else:
            clients = len(json.loads(impact.stdout).get("clients", []))
            start = startup["impact"]
            rows.append(Row("plan", "impact of 100 servers, minus startup", impact.wall - start, "s", start,
                            "<= 0.2", note=f"{clients} clients touched; value = wall {impact.wall:.2f} s minus "
                                           f"`responder impact --help` {start:.2f} s (the baseline column)"))
    return rows
