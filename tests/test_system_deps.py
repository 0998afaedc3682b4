"""scripts/system-deps.sh leaves no service running or enabled: it runs here against a scratch root,
with stand-ins for apt-get (whose "postinst" enables services and tries to start them), systemctl and
update-rc.d that only record what they are asked."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT

SCRIPT = ROOT / "scripts" / "system-deps.sh"

APT_GET = """#!/bin/sh
# a package's postinst: enable its services, then start them unless policy-rc.d forbids it
echo "apt-get $*" >>"$CALLS"
[ "$1" = install ] || exit 0
"$SYSTEM_DEPS_ROOT/usr/sbin/policy-rc.d" icinga2 start; echo "policy answered $?" >>"$CALLS"
mkdir -p "$SYSTEM_DEPS_ROOT/etc/systemd/system/multi-user.target.wants" "$SYSTEM_DEPS_ROOT/etc/rc2.d"
touch "$SYSTEM_DEPS_ROOT/etc/systemd/system/multi-user.target.wants/icinga2.service"
touch "$SYSTEM_DEPS_ROOT/etc/systemd/system/multi-user.target.wants/zabbix-server.service"
touch "$SYSTEM_DEPS_ROOT/etc/rc2.d/S01apache2"
"""
RECORD = """#!/bin/sh
echo "$(basename "$0") $*" >>"$CALLS"
"""


@pytest.fixture
def scratch(tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    root, bin_dir, calls = tmp_path / "root", tmp_path / "bin", tmp_path / "calls"
    for d in ("usr/sbin", "etc/systemd/system/multi-user.target.wants", "etc/rc2.d", "run/systemd/system"):
        (root / d).mkdir(parents=True)
    (root / "etc/systemd/system/multi-user.target.wants/ssh.service").touch()  # the machine's own sshd
    (root / "etc/rc2.d/S01ssh").touch()
    (root / "usr/sbin/policy-rc.d").write_text("#!/bin/sh\nexit 0\n")  # the machine's own policy
    bin_dir.mkdir()
    for name, body in {"apt-get": APT_GET, "systemctl": RECORD, "update-rc.d": RECORD,
                       "dpkg-query": "#!/bin/sh\nexit 1\n", "id": "#!/bin/sh\necho 0\n"}.items():
        (bin_dir / name).write_text(body)
        (bin_dir / name).chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "SYSTEM_DEPS_ROOT": str(root),
           "SYSTEM_DEPS_LOG": str(tmp_path / "log"), "CALLS": str(calls)}
    return root, calls, env


def test_nothing_it_installs_is_started_or_left_enabled(scratch: tuple[Path, Path, dict[str, str]]) -> None:
    root, calls, env = scratch
    done = subprocess.run(["sh", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    log = calls.read_text().splitlines()
    assert "policy answered 101" in log  # the postinst was told not to start anything
    assert "systemctl disable --now icinga2.service" in log
    assert "systemctl disable --now zabbix-server.service" in log
    assert "update-rc.d apache2 disable" in log
    assert not [line for line in log if "ssh" in line and not line.startswith("apt-get")]  # untouched
    assert (root / "usr/sbin/policy-rc.d").read_text() == "#!/bin/sh\nexit 0\n"  # put back as it was
    assert sorted(p.name for p in (root / "usr/sbin").iterdir()) == ["policy-rc.d"]


def test_without_systemd_running_it_only_disables(scratch: tuple[Path, Path, dict[str, str]]) -> None:
    root, calls, env = scratch
    (root / "run/systemd/system").rmdir()
    (root / "usr/sbin/policy-rc.d").unlink()
    done = subprocess.run(["sh", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    log = calls.read_text().splitlines()
    assert "systemctl disable icinga2.service" in log and "policy answered 101" in log
    assert not (root / "usr/sbin/policy-rc.d").exists()  # there was none before
