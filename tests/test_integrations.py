"""`responder integrations icinga2|alertmanager` checked by the real daemons' own config checkers, the
systemd units by `systemd-analyze verify`, the nginx snippet by `nginx -t` (each where installed)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from responder.integrations import icinga2, packaged
from tests.conftest import ROOT, run_responder
from tests.daemons import icinga

SAMPLES = ROOT / "samples"
BIN = Path(sys.executable).parent / "responder"
TOKEN = "tok-4b1d9c2e7f"


def config(directory: Path, **extra: str) -> Path:
    path = directory / "responder.yaml"
    lines = ["listen: 127.0.0.1:8080", f"auth: {{tokens: [{TOKEN}]}}", "inventory: {servers: {}, clients: {}}",
             *(f"{k}: {v}" for k, v in extra.items())]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_the_packaged_definitions_are_the_samples() -> None:
    for name in ("media_responder_webhook.yaml", "media_responder_script.yaml"):
        assert packaged(name) == (SAMPLES / "integrations" / "zabbix" / name).read_text()
    sample = (SAMPLES / "integrations" / "icinga2" / "responder.conf").read_text()
    objects = packaged("icinga2-objects.conf")
    assert sample.endswith(objects) and objects.startswith('object NotificationCommand "responder-host')


# -- Icinga 2 ---------------------------------------------------------------------------------------


def icinga_check(tmp_path: Path, text: str) -> str:
    if not Path(icinga.BINARY).exists():
        pytest.skip("needs icinga2 (Debian package, see scripts/system-deps.sh)")
    include = tmp_path / "responder.conf"
    include.write_text(text)
    d = tmp_path / "icinga"
    conf = icinga.write_config(d, include, 'object Host "web-01" {\n  check_command = "state-file"\n}\n')
    checked = subprocess.run([icinga.BINARY, "daemon", "-C", "-c", str(conf), *icinga._defines(d)],
                             capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout[-3000:] + checked.stderr[-1000:]
    listed = subprocess.run([icinga.BINARY, "object", "list", "--type", "NotificationCommand",
                             *icinga._defines(d)], capture_output=True, text=True, check=False)
    assert listed.returncode == 0, listed.stderr
    return listed.stdout


def test_icinga2_prints_objects_with_this_machines_paths(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    out = run_responder("integrations", "icinga2", "--config", str(cfg))
    assert out.returncode == 0, out.stderr
    assert "/usr/local/bin/responder" not in out.stdout and "/etc/responder" not in out.stdout
    assert f'vars.responder_bin = "{BIN}"' in out.stdout and f'vars.responder_config = "{cfg}"' in out.stdout
    objects = icinga_check(tmp_path, out.stdout)
    assert str(BIN) in objects and str(cfg) in objects


def test_icinga2_without_an_installed_script_runs_python_m(tmp_path: Path) -> None:
    odd = tmp_path / 'conf "$HOME" dir' / "responder.yaml"
    text = icinga2.render([sys.executable, "-m", "responder"], odd)
    assert '"$responder_bin$", "-m", "responder", "notify", "icinga"' in text
    assert 'conf \\"$$HOME\\" dir' in text  # quoted for the DSL: no macro, no broken string
    objects = icinga_check(tmp_path, text)
    # stored with `$$`: Icinga resolves macros inside custom variables again, and `$$` is a literal `$` there
    assert f'responder_bin = "{sys.executable}"' in objects and 'conf "$$HOME" dir' in objects


# -- Alertmanager ----------------------------------------------------------------------------------


def amtool_check(tmp_path: Path, text: str) -> None:
    amtool = shutil.which("amtool")
    if amtool is None:
        pytest.skip("needs amtool (Debian package prometheus-alertmanager, see scripts/system-deps.sh)")
    path = tmp_path / "alertmanager.yml"
    path.write_text(text)
    checked = subprocess.run([amtool, "check-config", str(path)], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_alertmanager_receiver_points_at_the_public_url_without_the_token(tmp_path: Path) -> None:
    out = run_responder("integrations", "alertmanager", "--config",
                        str(config(tmp_path, public_url="https://responder.example.net")))
    assert out.returncode == 0, out.stderr
    assert TOKEN not in out.stdout + out.stderr and out.stderr == ""
    [receiver] = yaml.safe_load(out.stdout)["receivers"]
    [hook] = receiver["webhook_configs"]
    assert hook["url"] == "https://responder.example.net/hooks/alertmanager" and hook["send_resolved"] is True
    assert hook["http_config"]["authorization"] == {"type": "Bearer",
                                                    "credentials_file": "/etc/alertmanager/responder.token"}
    amtool_check(tmp_path, out.stdout)


def test_alertmanager_show_token_and_a_loopback_note(tmp_path: Path) -> None:
    out = run_responder("integrations", "alertmanager", "--show-token", "--config", str(config(tmp_path)))
    assert out.returncode == 0, out.stderr
    hook = yaml.safe_load(out.stdout)["receivers"][0]["webhook_configs"][0]
    assert hook["url"] == "http://127.0.0.1:8080/hooks/alertmanager"
    assert hook["http_config"]["authorization"] == {"type": "Bearer", "credentials": TOKEN}
    assert "loopback" in out.stderr and len(out.stderr.splitlines()) == 1
    amtool_check(tmp_path, out.stdout)


# -- Zabbix, without a Zabbix ------------------------------------------------------------------------


def test_zabbix_unreachable_is_one_line_and_exit_2(tmp_path: Path) -> None:
    from tests.support.fleet import free_port

    api = f"http://127.0.0.1:{free_port()}/api_jsonrpc.php"
    out = run_responder("integrations", "zabbix", "--api", api, "--config", str(config(tmp_path)),
                        env={"ZABBIX_API_TOKEN": "zbx-secret-token"})
    assert out.returncode == 2
    assert out.stderr.splitlines()[-1].startswith(f"responder: cannot reach the Zabbix API at {api}")
    assert "Traceback" not in out.stderr and "zbx-secret-token" not in out.stderr


# -- systemd and nginx samples ---------------------------------------------------------------------


def test_systemd_units_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("needs systemd-analyze (Debian package systemd)")
    units = sorted((SAMPLES / "systemd").iterdir())
    assert {u.name for u in units} == {"responder.service", "responder-worker@.service",
                                       "responder-spool-flush.service", "responder-spool-flush.timer"}
    for unit in units:  # verify checks that ExecStart exists: point it at this checkout's responder
        text = unit.read_text()
        assert "/usr/local/bin/responder" in text or unit.suffix == ".timer"
        (tmp_path / unit.name).write_text(text.replace("/usr/local/bin/responder", str(BIN)))
    (tmp_path / "responder-worker@1.service").write_text((tmp_path / "responder-worker@.service").read_text())
    names = ["responder.service", "responder-worker@1.service", "responder-spool-flush.service",
             "responder-spool-flush.timer"]
    checked = subprocess.run([analyze, "verify", "--man=no", *(f"./{n}" for n in names)], cwd=tmp_path,
                             capture_output=True, text=True, check=False)
    assert checked.returncode == 0 and checked.stderr.strip() == "", checked.stderr  # warnings count too
    serve = (SAMPLES / "systemd" / "responder.service").read_text()
    for hardening in ("ProtectSystem=strict", "ReadWritePaths=/var/lib/responder", "NoNewPrivileges=yes",
                      "PrivateTmp=yes", "RestrictAddressFamilies=", "DynamicUser=yes", "CapabilityBoundingSet="):
        assert hardening in serve


def test_nginx_snippet(tmp_path: Path) -> None:
    nginx = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)
    if nginx is None:
        pytest.skip("nginx is not installed (the snippet is checked with `nginx -t` where it is)")
    from tests.support.tls import self_signed

    cert, key = self_signed(tmp_path, "responder.example.com")
    text = (SAMPLES / "nginx" / "responder.conf").read_text()
    text = text.replace("/etc/ssl/certs/responder.example.com.pem", str(cert)) \
        .replace("/etc/ssl/private/responder.example.com.key", str(key))
    (tmp_path / "responder.conf").write_text(text)
    (tmp_path / "logs").mkdir()
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/logs/error.log;\nevents {{}}\n"
        f"http {{\n  access_log off;\n  include {tmp_path}/responder.conf;\n}}\n")
    checked = subprocess.run([nginx, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
                             capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stderr
