"""In-process inventory timings, run as a child so an import that moved cannot take the bench down.

    python -m bench.inv_timing CONFIG INVENTORY HOST...     prints one JSON line

Only the two modules whose paths stay are imported: responder.config and responder.inventory.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import yaml


def best(fn, rounds: int = 3) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def per_call(fn, hosts: list[str]) -> float:  # type: ignore[no-untyped-def]
    """Seconds per call, best of 3 passes over the hosts."""
    def loop() -> None:
        for h in hosts:
            fn(h)
    return best(loop) / len(hosts)


def main(config: str, inventory: str, hosts: list[str]) -> dict[str, float]:
    from responder import config as config_module
    from responder.inventory import load_inventory_data

    text = Path(inventory).read_text()
    parse = best(lambda: yaml.load(text, Loader=yaml.CSafeLoader))
    load = best(lambda: config_module.load(config), rounds=2)
    inv = config_module.load(config).inventory
    lookups = (hosts * (30_000 // len(hosts) + 1))[:30_000]
    lookup = per_call(inv.lookup, lookups)
    plain = {h.lower(): h for h in hosts}
    dict_hit = per_call(lambda h: plain.get(h.lower()), lookups)
    names = list(inv.servers)[:100]
    small = load_inventory_data({"services": {}, "servers": {n: {"address": inv.servers[n].address,
                                                                 "aliases": inv.servers[n].aliases} for n in names},
                                 "clients": {}})
    small_hosts = [h for h in hosts if inv.server_for(h) in set(names)] or hosts[:100]
    lookup_small = per_call(small.lookup, (small_hosts * (30_000 // len(small_hosts) + 1))[:30_000])
    return {"parse": parse, "load": load, "lookup": lookup, "dict_hit": dict_hit, "lookup_100": lookup_small}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2], sys.argv[3:])))
