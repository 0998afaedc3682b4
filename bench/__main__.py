"""Run every benchmark and print its figures; `python -m bench NAME...` runs only those.

Each module in BENCHES has `run() -> list[str]`: the lines it reports. Copy them into
BENCHMARKS.md with the machine they ran on.
"""

from __future__ import annotations

import importlib
import platform
import sys
import time

BENCHES = ["intake", "probe", "ssh_logs"]


def main(names: list[str]) -> int:
    chosen = names or BENCHES
    print(f"# machine: {platform.node()} · {platform.machine()} · Python {platform.python_version()} · "
          f"{_cpus()} cores")
    for name in chosen:
        try:
            module = importlib.import_module(f"bench.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"bench.{name}":
                print(f"\n## {name}: not written yet")
                continue
            raise
        print(f"\n## {name}")
        started = time.perf_counter()
        for line in module.run():
            print(line, flush=True)
        print(f"(took {time.perf_counter() - started:.1f} s)")
    return 0


def _cpus() -> int:
    import os

    return os.cpu_count() or 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
