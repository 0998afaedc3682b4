"""`responder check` and `responder replay` on a real fleet; exit codes and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import PAYLOADS, run_responder, run_responder_async
from tests.support.fleet import Fleet
from tests.support.scenario import shared_fleet, storm, write_config
from tests.support.smtp import Collector


async def test_check_exit_codes(fleet: Fleet, tmp_path: Path) -> None:
    path = write_config(tmp_path, await shared_fleet(fleet))
    code, out, err = await run_responder_async("check", "--client", "acme", "--config", str(path))
    assert code == 1, err
    assert "CRITICAL" in out and "shop down on both servers" in out
    code, out, err = await run_responder_async("check", "--client", "globex", "--config", str(path))
    assert code == 0, err
    assert "DEGRADED" in out
    code, out, _ = await run_responder_async("check", "--client", "initech", "--json", "--config", str(path))
    assert code == 0 and json.loads(out)["severity"] == "ok"


async def test_check_by_service_and_by_server(fleet: Fleet, tmp_path: Path) -> None:
    path = write_config(tmp_path, await shared_fleet(fleet))
    code, out, _ = await run_responder_async("check", "--service", "portal", "--json", "--config", str(path))
    verdict = json.loads(out)
    assert code == 0 and sorted(c["client"] for c in verdict["clients"]) == ["hooli", "initech"]
    code, out, _ = await run_responder_async("check", "--server", "s3.dc1.example.net", "--json",
                                             "--config", str(path))
    verdict = json.loads(out)
    [globex] = verdict["clients"]
    # only s3 is checked and it hangs: the other two are not checked, never failing, so no outage
    assert globex["client"] == "globex" and globex["severity"] == "degraded"
    [service] = globex["services"]
    assert [k["server"] for k in service["checks"]] == ["s3"]
    assert service["servers_total"] == 3 and service["servers_failing"] == 1
    assert service["not_checked"] == ["s2", "s4"]
    assert "2 not checked" in globex["summary"]
    assert code == 0


async def test_check_notify_sends_mail(fleet: Fleet, tmp_path: Path, smtp: Collector) -> None:
    path = write_config(tmp_path, await shared_fleet(fleet), email={
        "host": "127.0.0.1", "port": smtp.port, "to": ["support@test"]})  # type: ignore[attr-defined]
    code, out, err = await run_responder_async("check", "--client", "globex", "--notify", "--json",
                                               "--config", str(path))
    assert code == 0, err
    [msg] = smtp.wait_for(1)
    assert msg["Subject"].startswith("[DEGRADED] globex degraded")
    verdict = json.loads(out)
    assert verdict["notifications"][0]["status"] == "sent" and verdict["kind"] == "check"
    body = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Alerts:" not in body  # a check has none: no empty section
    assert f"/incidents/{verdict['id']}" in body
    # the link opens: the incident is in the store, for the pages and for `responder incident`
    code, out, err = await run_responder_async("incident", verdict["id"], "--json", "--config", str(path))
    assert code == 0, err
    stored = json.loads(out)
    assert stored["kind"] == "check" and stored["notifications"][0]["status"] == "sent"
    code, out, err = await run_responder_async("incidents", "--config", str(path), env={"COLUMNS": "80"})
    assert code == 0 and verdict["id"] in out and "check:" in out, out


async def test_check_server_never_overstates(fleet: Fleet, tmp_path: Path) -> None:
    path = write_config(tmp_path, await shared_fleet(fleet))
    code, out, err = await run_responder_async("check", "--server", "s3", "--config", str(path),
                                               env={"COLUMNS": "80"})
    assert code == 0, err
    assert "CRITICAL" not in out and "DEGRADED" in out
    text = " ".join(out.split())
    assert "failing on s3, 1 of 3 servers; 2 not checked" in text
    assert "dry run: not stored" in text


async def test_check_all_and_help(fleet: Fleet, tmp_path: Path) -> None:
    path = write_config(tmp_path, await shared_fleet(fleet))
    code, out, err = await run_responder_async("check", "--all", "--json", "--config", str(path))
    assert code == 1, err
    assert sorted(c["client"] for c in json.loads(out)["clients"]) == ["acme", "globex", "hooli", "initech"]
    for command in ("check", "replay"):
        help_text = run_responder(command, "--help").stdout
        assert "Exit status: 0 no client is critical, 1 some client is critical, 2 bad usage" in help_text


def test_check_usage_errors(tmp_path: Path) -> None:
    path = write_config(tmp_path, {"servers": {"a": {"address": "10.0.0.1"}},
                                   "clients": {"c": {"servers": ["a"], "services": [{"x": {"url": "http://{address}/"}}]}}})
    cases = [
        (["check"], "--all"),
        (["check", "--client", "nope"], "unknown client 'nope'"),
        (["check", "--server", "zz"], "unknown server 'zz'"),
        (["check", "--service", "zz"], "no client has a service 'zz'"),
        (["check", "--bogus"], "No such option"),
    ]
    for args, text in cases:
        result = run_responder(*args, "--config", str(path))
        assert result.returncode == 2, (args, result.stderr)
        assert text in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr


async def test_replay_storm(fleet: Fleet, tmp_path: Path) -> None:
    path = write_config(tmp_path, await shared_fleet(fleet))
    payload = tmp_path / "storm.json"
    payload.write_bytes(storm(fleet))
    code, out, err = await run_responder_async("replay", str(payload), "--json", "--config", str(path))
    assert code == 1, err
    verdict = json.loads(out)
    assert {c["client"]: c["severity"] for c in verdict["clients"]} == \
        {"acme": "critical", "globex": "degraded", "initech": "ok"}
    assert verdict["notifications"] == []


def test_replay_bad_input(tmp_path: Path) -> None:
    path = write_config(tmp_path, {"servers": {}, "clients": {}})
    for name in ("alertmanager-edge-malformed.json", "alertmanager-edge-invalid-body.txt",
                 "alertmanager-edge-empty-alerts.json"):
        result = run_responder("replay", str(PAYLOADS / name), "--config", str(path))
        assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "Traceback" not in result.stderr
    missing = run_responder("replay", str(tmp_path / "none.json"), "--config", str(path))
    assert missing.returncode == 2 and "cannot read" in missing.stderr


def test_replay_unknown_hosts_only(tmp_path: Path) -> None:
    path = write_config(tmp_path, {"servers": {}, "clients": {}})
    result = run_responder("replay", str(PAYLOADS / "alertmanager-firing-unknown-host.json"), "--json",
                           "--config", str(path))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["unmapped_hosts"] == ["10.250.7.19:9100", "https://legacy-portal.example.net/health"]
