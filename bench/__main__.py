"""Run the benches and print one table; write bench/results.json.

    python -m bench [NAME...] [--quick] [--workers 1,2,4] [--timeout 400]

Every figure is set against a baseline measured in the same invocation (the machine is shared and
noisy). `--quick` shrinks every scenario about tenfold, for development. A bench that cannot run
here (a command not implemented yet, an internal module that moved) prints `skipped: <reason>`.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from bench.common import Row, Skip, fmt

BENCHES = ["probe", "ingest", "ingest_scaled", "inventory", "memory", "plan", "outage", "ssh_logs"]
MODULES = {"ingest_scaled": "ingest", "plan": "plan"}
RESULTS = Path(__file__).resolve().parent / "results.json"
COLUMNS = ["bench", "figure", "value", "baseline", "ratio", "target", "pass?"]


def cells(row: Row) -> list[str]:
    verdict = {True: "yes", False: "NO", None: ""}[row.passed]
    ratio = f"{row.ratio:.2f}x" if row.ratio is not None else ""
    baseline = fmt(row.baseline, row.unit) if row.baseline is not None else ""
    target = row.target.replace("<=", "≤").replace(">=", "≥")
    if row.target and row.on == "value" and not row.target.endswith("x") and row.unit \
            and not row.target.endswith(row.unit):
        target += f" {row.unit}"
    return [row.bench, row.figure, fmt(row.value, row.unit), baseline, ratio, target, verdict]


def table(rows: list[Row]) -> str:
    body = [COLUMNS, *(cells(r) for r in rows)]
    widths = [max(len(line[i]) for line in body) for i in range(len(COLUMNS))]
    right = {2, 3, 4}
    out = []
    for n, line in enumerate(body):
        out.append("| " + " | ".join(c.rjust(w) if i in right and n else c.ljust(w)
                                     for i, (c, w) in enumerate(zip(line, widths, strict=True))) + " |")
        if n == 0:
            out.append("|" + "|".join("-" * (w + 1) + (":" if i in right else "-")
                                      for i, w in enumerate(widths)) + "|")
    return "\n".join(out)


def run_one(name: str, options: dict[str, Any]) -> list[Row]:
    try:
        module = importlib.import_module(f"bench.{MODULES.get(name, name)}")
    except ImportError as exc:
        return [Row(name, f"skipped: cannot import ({exc})", "skipped")]
    func = getattr(module, "run_scaled" if name == "ingest_scaled" else "run")
    wanted = inspect.signature(func).parameters
    try:
        return list(func(**{k: v for k, v in options.items() if k in wanted}))
    except Skip as exc:
        return [Row(name, f"skipped: {exc}", "skipped")]
    except ImportError as exc:
        return [Row(name, f"skipped: cannot import ({exc})", "skipped")]
    except Exception as exc:
        traceback.print_exc()
        message = " ".join(str(exc).split())[:200]
        return [Row(name, f"failed: {type(exc).__name__}: {message}", "failed")]


def machine() -> str:
    load = os.getloadavg()
    return (f"{platform.node()} · {platform.machine()} · {os.cpu_count()} cores · Python "
            f"{platform.python_version()} · load {load[0]:.1f}")


def save(rows: list[Row], ran: list[str], quick: bool, argv: list[str]) -> None:
    kept: list[dict[str, Any]] = []
    if RESULTS.exists():
        try:
            kept = [r for r in json.loads(RESULTS.read_text()).get("rows", []) if r.get("bench") not in ran]
        except (ValueError, AttributeError):
            kept = []
    date = subprocess.run(["date"], capture_output=True, text=True).stdout.strip()
    data = {"date": date, "machine": machine(), "quick": quick, "command": "python -m bench " + " ".join(argv),
            "rows": kept + [r.as_dict() for r in rows]}
    RESULTS.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"some of: {', '.join(BENCHES)}")
    parser.add_argument("--quick", action="store_true", help="every scenario about 10x smaller")
    parser.add_argument("--workers", default="1,2,4", help="outage: worker counts to run (default 1,2,4)")
    parser.add_argument("--timeout", type=float, default=400.0, help="outage: seconds per run (default 400)")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in BENCHES]
    if unknown:
        parser.error(f"unknown bench {', '.join(unknown)} (choose from {', '.join(BENCHES)})")
    chosen = args.names or BENCHES
    options = {"quick": args.quick, "workers": [int(w) for w in args.workers.split(",") if w.strip()],
               "timeout": args.timeout}
    print(f"# {machine()}{' · --quick' if args.quick else ''}", flush=True)
    rows: list[Row] = []
    for name in chosen:
        started = time.perf_counter()
        print(f"# {name} ...", end=" ", flush=True)
        got = run_one(name, options)
        print(f"{time.perf_counter() - started:.1f} s", flush=True)
        rows += got
    print()
    print(table(rows))
    notes = [f"- {r.bench} / {r.figure}: {r.note}" for r in rows if r.note]
    if notes:
        print("\n" + "\n".join(notes))
    save(rows, chosen, args.quick, argv)
    print(f"\nwritten: {RESULTS.relative_to(Path.cwd()) if RESULTS.is_relative_to(Path.cwd()) else RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
