"""Log evidence end to end: webhook -> RQ worker process -> probes -> SSH -> verdict JSON and email, and
`responder check --logs`. Real sites, real SSH servers on the same loopback addresses, real Redis and SMTP."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from responder.config import load
from responder.store import Store
from responder.web.app import make_app
from tests.conftest import run_responder_async, run_worker_async
from tests.support.fleet import Fleet
from tests.support.scenario import shared_fleet, storm, write_config
from tests.support.smtp import Collector
from tests.support.ssh_server import SshHost, SshLab

AUTH = {"Authorization": "Bearer test-token", "Content-Type": "application/json"}
OLD = '10.9.9.9 - - [18/Nov/2025:07:00:00 +0000] "GET /old HTTP/1.1" 500 1 "-" "-"'
FINE = '10.9.9.9 - - [18/Nov/2025:09:14:20 +0000] "GET /fine HTTP/1.1" 200 1 "-" "-"'
SCRIPT = '10.9.9.9 - - [18/Nov/2025:09:14:30 +0000] "GET /<script>alert(1)</script>?$(id) HTTP/1.1" 503 1 "-" "-"'


async def with_logs(fleet: Fleet, lab: SshLab) -> tuple[dict[str, Any], dict[str, SshHost]]:
    """The shared scenario, each server also running SSH on its own address; s2's key is not trusted."""
    inventory = await shared_fleet(fleet)
    hosts: dict[str, SshHost] = {}
    for name in ("s1", "s2", "s3", "s4", "s5"):
        host = hosts[name] = await lab.host(name, address=fleet.address(name),
                                            trust="unknown" if name == "s2" else "trusted")
        log = host.write("nginx/access.log", "\n".join([OLD, FINE, SCRIPT]) + "\n")
        inventory["servers"][name].update({"ssh": {"port": host.port}, "logs": [str(log)]})
    return inventory, hosts


def ssh_settings(lab: SshLab) -> dict[str, Any]:
    return {"username": "responder", "client_keys": [str(lab.client_key_path)], "known_hosts": str(lab.known_hosts),
            "agent": False, "timeout": "2s", "command_timeout": "5s"}


async def test_the_worker_puts_logs_in_the_verdict_and_the_email(fleet: Fleet, lab: SshLab, store: Store,
                                                                  smtp: Collector, redis_url: str,
                                                                  tmp_path: Path) -> None:
    inventory, hosts = await with_logs(fleet, lab)
    path = write_config(tmp_path, inventory, ssh=ssh_settings(lab), email={
        "host": "127.0.0.1", "port": smtp.port, "sender": "responder@test", "to": ["noc@test"]})  # type: ignore[attr-defined]
    async with TestClient(TestServer(make_app(load(path), store))) as client:
        resp = await client.post("/hooks/alertmanager", data=storm(fleet), headers=AUTH)
        [incident_id] = (await resp.json())["incidents"]
        code, _, err = await run_worker_async(path, redis_url)
        assert code == 0, err
        verdict = await (await client.get(f"/api/incidents/{incident_id}")).json()

    logs = {c["client"]: c["logs"] for c in verdict["clients"]}
    log_path = str(hosts["s1"].root / "nginx/access.log")
    assert logs["acme"] == [
        {"server": "s1", "path": log_path, "lines": [SCRIPT, FINE], "error": None, "truncated": False, "note": None},
        {"server": "s2", "path": None, "lines": [], "truncated": False, "note": None,
         "error": f"host key not trusted: {hosts['s2'].address}:{hosts['s2'].port} is not in known_hosts "
                  f"{lab.known_hosts}"},
    ]
    assert [(x["server"], x["lines"]) for x in logs["globex"]] == [("s3", [SCRIPT, FINE])]
    assert logs["initech"] == []
    # only servers where a check failed were asked: s1 and s3 once each, s2 refused before any command
    assert {n: (h.connections, len(h.commands)) for n, h in hosts.items()} == \
        {"s1": (1, 1), "s2": (1, 0), "s3": (1, 1), "s4": (0, 0), "s5": (0, 0)}

    messages = smtp.wait_for(2)
    assert len(messages) == 2, verdict["notifications"]
    by_to = {m["To"]: m for m in messages}
    noc = by_to["noc@test"]
    html_part, text_part = noc.get_body(("html",)), noc.get_body(("plain",))
    assert html_part is not None and text_part is not None
    html, text = html_part.get_content(), text_part.get_content()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>" not in html
    assert SCRIPT in text and "host key not trusted" in text
    attachments = {p.get_filename(): p.get_content() for p in noc.iter_attachments()}
    logs_txt = attachments[f"logs-{incident_id}.txt"]
    assert SCRIPT in logs_txt and FINE in logs_txt and OLD not in logs_txt


async def test_check_logs_json(fleet: Fleet, lab: SshLab, tmp_path: Path) -> None:
    inventory, hosts = await with_logs(fleet, lab)
    path = write_config(tmp_path, inventory, ssh=ssh_settings(lab))

    code, out, err = await run_responder_async("check", "--client", "acme", "--json", "--config", str(path))
    assert code == 1, err  # critical
    assert [c["logs"] for c in json.loads(out)["clients"]] == [[]]  # no --logs: no SSH at all
    assert hosts["s1"].connections == 0

    code, out, err = await run_responder_async("check", "--client", "acme", "--logs", "--json", "--config", str(path))
    assert code == 1, err
    [acme] = json.loads(out)["clients"]
    assert [(x["server"], x["lines"], x["error"] is None) for x in acme["logs"]] == \
        [("s1", [OLD, SCRIPT, FINE], True), ("s2", [], False)]  # no alert, so no time window; 5xx first
    assert hosts["s1"].connections == 1 and hosts["s3"].connections == 0
