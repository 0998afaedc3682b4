"""A private Icinga 2 (Debian's icinga2) on loopback: its own config, state and log under one directory.

Checks read a state file per object (0 OK/UP, 2 CRITICAL/DOWN), so a test turns a host or service
up and down by writing a number.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.daemons.common import stop_process

BINARY = "/usr/sbin/icinga2"

CHECK_SCRIPT = """#!/bin/sh
# exits with the number in the state file: 0 up, 2 down
state=$(cat "$1" 2>/dev/null || echo 0)
echo "state $state from $1"
exit "$state"
"""


@dataclass
class Icinga:
    directory: Path
    log: Path

    def set_state(self, name: str, state: int) -> None:
        (self.directory / "state" / name).write_text(f"{state}\n")

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""


def version() -> str:
    out = subprocess.run([BINARY, "--version"], capture_output=True, text=True, check=False).stdout
    return out.splitlines()[0] if out else "unknown"


def _defines(d: Path) -> list[str]:
    return [f"-DDataDir={d}/lib", f"-DLogDir={d}/log", f"-DCacheDir={d}/cache", f"-DSpoolDir={d}/spool",
            f"-DInitRunDir={d}/run", f"-DConfigDir={d}/etc", f"-DStatePath={d}/lib/icinga2.state",
            f"-DModAttrPath={d}/lib/modified-attributes.conf", f"-DObjectsPath={d}/cache/icinga2.debug",
            f"-DVarsPath={d}/cache/icinga2.vars", f"-DPidPath={d}/run/icinga2.pid",
            "-DRunAsUser=root", "-DRunAsGroup=root"]


def write_config(d: Path, include: Path, objects: str) -> Path:
    """icinga2.conf: the components, a file logger, the included sample, and the test's objects."""
    for sub in ("etc", "lib", "log", "cache", "spool", "run", "state"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    check = d / "check_state.sh"
    check.write_text(CHECK_SCRIPT)
    check.chmod(0o755)
    conf = d / "etc" / "icinga2.conf"
    conf.write_text(f"""
object CheckerComponent "checker" {{ }}
object NotificationComponent "notification" {{ }}
object FileLogger "main-log" {{
  severity = "notice"
  path = LogDir + "/icinga2.log"
}}

include "{include}"

object CheckCommand "state-file" {{
  command = [ "{check}", "{d}/state/$state_name$" ]
}}

{objects}
""")
    return conf


@contextlib.contextmanager
def running(d: Path, conf: Path) -> Iterator[Icinga]:
    check = subprocess.run([BINARY, "daemon", "-C", "-c", str(conf), *_defines(d)], capture_output=True, text=True,
                           check=False)
    if check.returncode != 0:
        raise AssertionError(f"icinga2 rejects the config:\n{check.stdout[-4000:]}{check.stderr[-2000:]}")
    with open(d / "daemon.out", "wb") as out:
        proc = subprocess.Popen([BINARY, "daemon", "-c", str(conf), *_defines(d)], stdout=out,
                                stderr=subprocess.STDOUT)
    try:
        yield Icinga(directory=d, log=d / "log" / "icinga2.log")
    finally:
        stop_process(proc, timeout=30)
