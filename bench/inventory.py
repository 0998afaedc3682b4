"""inventory: a 10,000-server, 5,000-client inventory (3 services each, clients on 2–4 servers).

- load + validate: `responder.config.load` of a config naming the inventory file (in a child
  process; best of 2), against yaml.CSafeLoader parsing the same file (the least any loader pays).
- `responder inventory check FILE` as a process, against `responder --help` (python startup and
  the CLI's imports).
- host lookup: `Inventory.lookup("web-01234.dc1.example.net:9100")` (port stripped, alias matched),
  against a plain dict hit of the lower-cased host; and at 100 servers, to show it stays O(1).
- first probe: `responder check --client c00000` from process start to the first request that the
  fake fleet receives (the fleet stamps its arrival), against the minimal aiohttp client process
  probing the same URLs.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any

from bench.common import PY, RESPONDER, Row, Skip, free_port, responder_config, run_timed, workdir, write_yaml
from bench.fleet import FleetProcesses, address

NET, SEED = 72, 20261202


def big_inventory(servers: int, clients: int, ports: list[int], seed: int = SEED) -> dict[str, Any]:
    rng = random.Random(seed)
    names = [f"web-{i:05d}" for i in range(servers)]
    return {
        "services": {f"svc{k}": {"url": f"http://{{address}}:{port}/svc{k}"} for k, port in enumerate(ports)},
        "servers": {n: {"address": address(i, NET), "aliases": [f"{n}.dc1.example.net"]} for i, n in enumerate(names)},
        "clients": {f"c{c:05d}": {"servers": rng.sample(names, rng.randint(2, 4)),
                                  "services": [f"svc{k}" for k in range(len(ports))]} for c in range(clients)},
    }


def write_big(directory: Path, quick: bool) -> tuple[Path, Path, dict[str, Any]]:
    servers, clients = (1000, 500) if quick else (10_000, 5_000)
    data = big_inventory(servers, clients, [free_port() for _ in range(3)])
    inventory = write_yaml(directory / "inventory.yaml", data)
    return responder_config(directory, inventory), inventory, data


def first_probe(directory: Path, cfg: Path, data: dict[str, Any]) -> tuple[float, float]:
    client = data["clients"]["c00000"]
    ports = [int(s["url"].split(":")[2].split("/")[0]) for s in data["services"].values()]
    addresses = [data["servers"][s]["address"] for s in client["servers"]]
    urls = [f"http://{a}:{p}/svc{k}" for a in addresses for k, p in enumerate(ports)]
    (directory / "urls.json").write_text(json.dumps(urls))
    spec = {"listeners": [[a, p] for a in addresses for p in ports]}
    with FleetProcesses(spec, directory) as fleet:
        started = time.time()
        done = run_timed([*RESPONDER, "check", "--client", "c00000", "--json", "--config", str(cfg)])
        if done.rc not in (0, 1):
            raise Skip(f"responder check exited {done.rc}: {done.stderr.strip()[-300:]}")
        ours = fleet.stats()["first_at"] - started
        fleet.reset()
        started = time.time()
        run_timed([PY, "-m", "bench.baseline_client", str(directory / "urls.json"), "500", "2",
                   str(directory / "out.json")])
        theirs = fleet.stats()["first_at"] - started
    return ours, theirs


def run(quick: bool = False) -> list[Row]:
    with workdir("inventory") as tmp:
        cfg, inventory, data = write_big(tmp, quick)
        n = len(data["servers"])
        hosts = [f"web-{i:05d}.dc1.example.net:9100" for i in range(0, n, max(1, n // 400))]
        hosts += [f"web-{i:05d}.dc1.example.net:9100" for i in range(100)]
        timing = run_timed([PY, "-m", "bench.inv_timing", str(cfg), str(inventory), *hosts])
        if timing.rc:
            raise Skip(f"in-process timing failed: {timing.stderr.strip().splitlines()[-1][:200]}")
        t = json.loads(timing.stdout)
        check = run_timed([*RESPONDER, "inventory", "check", str(inventory)])
        helped = run_timed([*RESPONDER, "--help"])
        if check.rc:
            raise Skip(f"responder inventory check exited {check.rc}: {check.stderr.strip()[-200:]}")
        ours, theirs = first_probe(tmp, cfg, data)
    scale = f"{n:,} servers, {len(data['clients']):,} clients"
    return [
        Row("inventory", f"load + validate, {scale}", t["load"], "s", t["parse"], "<= 1",
            note="baseline: yaml.CSafeLoader parse of the same file, in the same process"),
        Row("inventory", "`inventory check FILE` (process)", check.wall, "s", helped.wall,
            note="baseline: `responder --help` (python startup and the CLI's imports)"),
        Row("inventory", "host lookup (alias:port)", t["lookup"] * 1e6, "µs", t["dict_hit"] * 1e6, "<= 5",
            note="baseline: dict.get(host.lower()), one dict hit"),
        Row("inventory", "host lookup at 100 servers", t["lookup_100"] * 1e6, "µs", t["lookup"] * 1e6,
            note="ratio against the full inventory: about 1.0 means O(1)"),
        Row("inventory", "check --client: start to first probe", ours, "s", theirs, "<= 1",
            note="baseline: the minimal aiohttp client process, start to its first request"),
    ]
