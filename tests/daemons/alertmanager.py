"""A private Prometheus Alertmanager (Debian's prometheus-alertmanager) on loopback."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.daemons.common import stop_process
from tests.support.fleet import free_port

BINARY = "/usr/bin/prometheus-alertmanager"


@dataclass
class Alertmanager:
    url: str
    log: Path
    process: subprocess.Popen[bytes]


def version() -> str:
    out = subprocess.run([BINARY, "--version"], capture_output=True, text=True, check=False)
    return (out.stdout or out.stderr).splitlines()[0] if (out.stdout or out.stderr) else "unknown"


@contextlib.contextmanager
def running(config: Path, directory: Path) -> Iterator[Alertmanager]:
    """Alertmanager with its own config, data and port; no clustering (an empty cluster address)."""
    port = free_port()
    log = directory / "alertmanager.log"
    data = directory / "data"
    data.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        proc = subprocess.Popen([BINARY, f"--config.file={config}", f"--storage.path={data}",
                                 f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=",
                                 "--log.level=debug"], stdout=out, stderr=subprocess.STDOUT)
    try:
        yield Alertmanager(url=f"http://127.0.0.1:{port}", log=log, process=proc)
    finally:
        stop_process(proc, timeout=20)
