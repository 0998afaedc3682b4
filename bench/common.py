"""What every bench shares: result rows, child processes, free ports, configs, RSS of a process tree.

Benches drive Responder as a user does: the `responder` command as a process, its HTTP endpoints,
and YAML files written here. Everything they start is stopped by its own pid before they return.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
RESPONDER = [PY, "-m", "responder"]


class Skip(Exception):
    """A bench that cannot run here: the table says `skipped: <reason>`."""


@dataclass
class Row:
    """One line of the table. `target` is checked against `ratio` when `on` is "ratio", else `value`."""

    bench: str
    figure: str
    value: float | str | None
    unit: str = ""
    baseline: float | str | None = None
    target: str = ""  # "<= 1.1x", ">= 0.5x", "<= 30 ms", "== 0"
    on: str = "value"
    note: str = ""
    ratio: float | None = field(default=None)
    passed: bool | None = field(default=None)

    def __post_init__(self) -> None:
        if self.ratio is None and isinstance(self.value, int | float) and isinstance(self.baseline, int | float) \
                and self.baseline:
            self.ratio = self.value / self.baseline
        if self.passed is None and self.target:
            self.passed = _meets(self.ratio if self.on == "ratio" else self.value, self.target)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _meets(x: float | str | None, target: str) -> bool | None:
    if not isinstance(x, int | float):
        return None
    op, limit = target.split()[:2]
    bound = float(limit.rstrip("x×"))
    return {"<=": x <= bound, ">=": x >= bound, "==": x == bound}[op]


def fmt(x: float | str | None, unit: str = "") -> str:
    if x is None:
        return "n/a"
    if isinstance(x, str):
        return x
    if isinstance(x, int) or (isinstance(x, float) and x.is_integer() and abs(x) >= 100):
        text = f"{int(x):,}"
    elif abs(x) >= 100:
        text = f"{x:,.0f}"
    elif abs(x) >= 10:
        text = f"{x:.1f}"
    else:
        text = f"{x:.3g}" if abs(x) >= 0.01 else f"{x:.2g}"
    return f"{text} {unit}".strip()


# -- processes -----------------------------------------------------------------------------------------


def raise_nofile() -> None:
    """Children call this: the soft open-file limit up to the hard one."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def nofile_limit() -> int:
    import resource

    return resource.getrlimit(resource.RLIMIT_NOFILE)[1]


def env(**extra: str) -> dict[str, str]:
    level = os.environ.get("RESPONDER_BENCH_LOG_LEVEL", "WARNING")  # INFO to read a kept serve.log
    out = {**os.environ, "PYTHONPATH": str(ROOT), "RESPONDER_LOG_LEVEL": level, **extra}
    out.pop("RESPONDER_CONFIG", None)
    return out


@dataclass
class Finished:
    rc: int
    wall: float
    cpu: float  # user + system seconds of the child itself (os.wait4)
    maxrss_mb: float
    stdout: str
    stderr: str


def run_timed(cmd: Sequence[str], timeout: float = 600.0, cwd: Path | None = None,
              extra_env: dict[str, str] | None = None) -> Finished:
    """Run a command to its end; wall time, its own CPU and peak RSS from wait4 (its rusage only)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(list(cmd), stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=cwd or ROOT,
                                env=env(**(extra_env or {})), preexec_fn=raise_nofile)
        deadline = started + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.005)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Finished(proc.returncode, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024.0,
                        out.read().decode(errors="replace"), err.read().decode(errors="replace"))


def check_against_baseline(directory: Path, inventory: dict[str, Any], urls: Sequence[str], services: int,
                           timeout: float, concurrency: int) -> tuple[list[str], list[str]]:
    """Write the config and URL list of a `responder check` bench in `directory`: the two commands,
    `responder check --json` over svc0…svc{services-1} (no retries) and the baseline client over the same
    URLs with the same timeout and concurrency (its outcomes in directory/out.json)."""
    config = responder_config(directory, write_yaml(directory / "inventory.yaml", inventory),
                              probe={"timeout": f"{timeout:g}s", "retries": 0, "concurrency": concurrency})
    (directory / "urls.json").write_text(json.dumps(list(urls)))
    check = [*RESPONDER, "check", "--json", "--config", str(config)]
    for k in range(services):
        check += ["--service", f"svc{k}"]
    baseline = [PY, "-m", "bench.baseline_client", str(directory / "urls.json"), str(concurrency), f"{timeout:g}",
                str(directory / "out.json")]
    return check, baseline


def run_check(cmd: Sequence[str]) -> Finished:
    """`responder check` to its end; anything but exit 0 or 1 (no client critical / some) skips the bench."""
    done = run_timed(cmd)
    if done.rc not in (0, 1):
        raise Skip(f"responder check exited {done.rc}: {done.stderr.strip()[-300:]}")
    return done


def stop(proc: subprocess.Popen[Any], timeout: float = 20.0) -> None:
    """SIGTERM the process we started (its own group when it leads one), then SIGKILL if it lingers."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait()


def stop_tree(proc: subprocess.Popen[Any], timeout: float = 20.0) -> None:
    """Stop a process and then whatever of its own children outlived it (by pid, nothing broader)."""
    kids = descendants(proc.pid)
    stop(proc, timeout)
    for pid in kids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 60.0, proc: subprocess.Popen[Any] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status < 500:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout:g} s")


def get_json(url: str, timeout: float = 30.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read())


def write_yaml(path: Path, data: Any) -> Path:
    with path.open("w", encoding="utf-8") as f:
        yaml.dump(data, f, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper), sort_keys=False,
                  default_flow_style=None, width=200)
    return path


def responder_config(directory: Path, inventory: Path | dict[str, Any], **settings: Any) -> Path:
    data = {"state_dir": str(directory / "state"),
            "inventory": str(inventory) if isinstance(inventory, Path) else inventory, **settings}
    return write_yaml(directory / "responder.yaml", data)


def serve(config: Path, workers: int = 0, log: Path | None = None) -> subprocess.Popen[bytes]:
    cmd = [*RESPONDER, "serve", "--config", str(config)] + (["--workers", str(workers)] if workers else [])
    sink = log.open("wb") if log else subprocess.DEVNULL
    return subprocess.Popen(cmd, cwd=ROOT, env=env(), stdin=subprocess.DEVNULL, stdout=sink,
                            stderr=subprocess.STDOUT, preexec_fn=raise_nofile)


# -- a process tree's memory ----------------------------------------------------------------------------


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rfind(b")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out: list[int] = []
    todo = [pid]
    while todo:
        for kid in children.get(todo.pop(), []):
            out.append(kid)
            todo.append(kid)
    return out


def describe(pid: int) -> str:
    """A short name for a process: its command's words after `-m responder` (or the program name)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return str(pid)
    if "-m" in argv:
        argv = argv[argv.index("-m") + 1:]
    words = [a for a in argv[:3] if not a.startswith("-")]
    return " ".join(os.path.basename(w) for w in words[:2]) or str(pid)


def rss_mb(pids: Sequence[int]) -> float:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/statm") as f:
                total += int(f.read().split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return total * os.sysconf("SC_PAGE_SIZE") / 2**20


class TreeRss:
    """Polls /proc every `every` seconds; `peak` is the largest sum of `measure` (MB, default RSS) over
    the process tree seen. A measure /proc cannot give here (`available` false) leaves `peak` at 0."""

    def __init__(self, pid: int, every: float = 0.2, measure: Callable[[list[int]], float] | None = None,
                 available: bool = True) -> None:
        self.pid, self.every, self.peak = pid, every, 0.0
        self.measure = measure or rss_mb
        self.available = available
        self.at_peak: list[tuple[str, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self._stop.is_set():
            pids = [self.pid, *descendants(self.pid)]
            value = self.measure(pids)
            if value > self.peak:
                self.peak = value
                self.at_peak = [(describe(pid), self.measure([pid])) for pid in pids]
            self._stop.wait(self.every)

    def breakdown(self) -> str:
        """Each process of the tree at the peak, largest first: 'serve 108, worker 81, ...' (MB)."""
        return ", ".join(f"{name} {mb:.0f}" for name, mb in sorted(self.at_peak, key=lambda x: -x[1]))

    def __enter__(self) -> TreeRss:
        if self.available:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()


@contextlib.contextmanager
def workdir(prefix: str) -> Iterator[Path]:
    """A scratch directory, removed afterwards unless RESPONDER_BENCH_KEEP is set (to read serve.log)."""
    if os.environ.get("RESPONDER_BENCH_KEEP"):
        kept = Path(tempfile.mkdtemp(prefix=f"responder-bench-{prefix}-"))
        print(f"# keeping {kept}", file=sys.stderr)
        yield kept
        return
    with tempfile.TemporaryDirectory(prefix=f"responder-bench-{prefix}-") as tmp:
        yield Path(tmp)
