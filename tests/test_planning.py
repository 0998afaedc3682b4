"""`responder impact`, `responder plan` and `maintenance add --plan` as a person runs them: the real
command in a subprocess, JSON out, exit codes, one line on bad input; windows in a real Redis."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from responder.lifecycle import maintenance
from responder.model.alert import utcnow
from responder.store import Store
from tests.conftest import run_responder
from tests.support.scenario import write_config
from tests.test_plan import BASE


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_config(tmp_path, BASE)


def test_impact_json_and_exit_status(config: Path) -> None:
    done = run_responder("impact", "web-01", "10.0.0.13:9100", "--json", "--config", str(config))
    assert done.returncode == 1, done.stderr  # store on acme and initech's shop drop below min_healthy
    data = json.loads(done.stdout)
    assert [(c["client"], c["severity"]) for c in data["clients"]] == [
        ("acme", "critical"), ("initech", "critical"), ("globex", "degraded")]
    assert data["clients"][0]["services"][0] == {"service": "store", "severity": "critical", "servers_total": 3,
                                                 "servers_left": 1, "min_healthy": 2}
    done = run_responder("impact", "web-02", "--json", "--config", str(config))
    assert done.returncode == 0 and {c["severity"] for c in json.loads(done.stdout)["clients"]} == {"degraded"}
    table = run_responder("impact", "lb-01", "--config", str(config))
    assert table.returncode == 1 and "depends on lb-01" in table.stdout and "CRITICAL" in table.stdout


def test_impact_of_an_unknown_host_is_one_line(config: Path) -> None:
    done = run_responder("impact", "web-01", "db-99", "--config", str(config))
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        "responder: unknown host 'db-99' (not a server name, alias or address in the inventory)"]


def test_plan_json_for_servers_service_and_client(config: Path) -> None:
    done = run_responder("plan", "--servers", "web-01,web-02,web-03,web-04,lb-01", "--json", "--config", str(config))
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["batches"] == [["web-01"], ["web-02"], ["web-03"]] and data["lower_bound"] == 3
    assert {(b["server"], b["client"]) for b in data["blocked"]} == {("lb-01", "acme"), ("web-04", "hooli")}
    assert all(b["why"] for b in data["blocked"])
    by_service = json.loads(run_responder("plan", "--service", "store", "--json", "--config", str(config)).stdout)
    assert sorted(s for b in by_service["batches"] for s in b) == ["web-01", "web-02", "web-03"]
    by_client = json.loads(run_responder("plan", "--client", "globex", "--json", "--config", str(config)).stdout)
    assert by_client["batches"] == [["web-03"]] and by_client["blocked"][0]["server"] == "web-04"
    table = run_responder("plan", "--client", "acme", "--config", str(config))
    assert table.returncode == 0 and "3 batches" in table.stdout


@pytest.mark.parametrize(("args", "line"), [
    ((), "responder: name exactly one of --servers H,H,..., --service S or --client C"),
    (("--client", "acme", "--service", "shop"), "responder: name exactly one of --servers H,H,..., --service S or "
                                                "--client C"),
    (("--servers", "web-01,db-99"), "responder: unknown host 'db-99' (not a server name, alias or address in the "
                                    "inventory)"),
    (("--service", "nothing"), "responder: no client has service 'nothing'"),
    (("--client", "nobody"), "responder: unknown client 'nobody'"),
])
def test_plan_bad_usage_is_one_line(config: Path, args: tuple[str, ...], line: str) -> None:
    done = run_responder("plan", *args, "--config", str(config))
    assert (done.returncode, done.stderr.strip().splitlines()) == (2, [line])


def test_a_window_per_server_of_a_saved_batch(config: Path, store: Store, redis_url: str, tmp_path: Path) -> None:
    env = {"RESPONDER_REDIS_URL": redis_url}
    saved = tmp_path / "plan.json"
    saved.write_text(run_responder("plan", "--servers", "web-01,web-02,web-03", "--json", "--config",
                                   str(config)).stdout)
    done = run_responder("maintenance", "add", "--plan", str(saved), "--batch", "2", "--for", "30m", "--config",
                         str(config), env=env)
    assert done.returncode == 0, done.stderr
    [window] = [w for w in maintenance.stored(store) if w.active(utcnow())]
    assert (window.server, window.client, window.service) == ("web-02", None, None)
    assert "rolling update, batch 2" in window.reason and window.id in done.stdout


@pytest.mark.parametrize(("content", "batch", "line"), [
    (None, "1", "cannot read"),
    ("{not json", "1", "not a plan (not JSON"),
    ('{"batches": "web-01"}', "1", "not a plan: expected"),
    ('{"batches": [["web-01"]]}', "2", "has batches 1 to 1, not 2"),
    ('{"batches": [["web-01"]]}', "0", "has batches 1 to 1, not 0"),
    ('{"batches": [["web-01", "db-99"]]}', "1", "batch 1: unknown server 'db-99'"),
])
def test_a_bad_plan_file_opens_nothing(config: Path, store: Store, redis_url: str, tmp_path: Path,
                                       content: str | None, batch: str, line: str) -> None:
    saved = tmp_path / "plan.json"
    if content is not None:
        saved.write_text(content)
    done = run_responder("maintenance", "add", "--plan", str(saved), "--batch", batch, "--for", "30m", "--config",
                         str(config), env={"RESPONDER_REDIS_URL": redis_url})
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1 and line in done.stderr, done.stderr
    assert maintenance.stored(store) == []


def test_service_windows_from_the_command_line(config: Path, store: Store, redis_url: str) -> None:
    env = {"RESPONDER_REDIS_URL": redis_url}
    done = run_responder("maintenance", "add", "--service", "shop", "--for", "1h", "--reason", "shop 2.0",
                         "--config", str(config), env=env)
    assert done.returncode == 0 and "service shop on every client" in done.stdout, done.stderr
    done = run_responder("maintenance", "add", "--service", "store", "--client", "acme", "--for", "1h",
                         "--config", str(config), env=env)
    assert done.returncode == 0 and "service store of acme" in done.stdout, done.stderr
    assert sorted((w.service, w.client) for w in maintenance.stored(store)) == [("shop", None), ("store", "acme")]
    for args, line in [(("--service", "store", "--client", "globex"), "client 'globex' has no service 'store'"),
                       (("--service", "nothing"), "no client has service 'nothing'"),
                       (("--service", "shop", "--server", "web-01"), "name --client C, --server S or --service S")]:
        done = run_responder("maintenance", "add", *args, "--for", "1h", "--config", str(config), env=env)
        assert done.returncode == 2 and line in done.stderr and len(done.stderr.strip().splitlines()) == 1
    listed = json.loads(run_responder("maintenance", "list", "--json", "--config", str(config), env=env).stdout)
    assert sorted((w["service"], w["client"]) for w in listed) == [("shop", None), ("store", "acme")]
